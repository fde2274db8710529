#include "core/nn/backbone.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/functional.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <spdlog/spdlog.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "core/error.h"
#include "core/nn/onednn_trunk.h"

namespace hymask::nn {
namespace {

namespace tnn = torch::nn;

tnn::Conv2d conv3x3(int in, int out, int stride) {
  return tnn::Conv2d(tnn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

// BatchNorm, or nothing when the backbone is built without normalisation.
tnn::BatchNorm2d norm(int channels, bool enabled) {
  return enabled ? tnn::BatchNorm2d(channels) : tnn::BatchNorm2d(nullptr);
}

torch::Tensor normalise(tnn::BatchNorm2d& bn, const torch::Tensor& x) {
  return bn ? bn(x) : x;
}

// The shortcut of a block that changes shape: 1x1 convolution and BN.
tnn::Sequential projection(int in, int out, int stride, bool batchnorm) {
  tnn::Sequential s(tnn::Conv2d(tnn::Conv2dOptions(in, out, 1).stride(stride).bias(!batchnorm)));
  if (batchnorm) s->push_back(tnn::BatchNorm2d(out));
  return s;
}

// How many of `positions` downsampling points halve the input so it ends near `target`.
std::vector<int> stride_plan(int size, int target, int positions) {
  const int halvings =
      std::clamp(int(std::lround(std::log2(std::max(1.0, double(size) / target)))), 0, positions);
  // Halve as late as possible: a small input (14 x 14 at u = 1) keeps its resolution through the
  // early layers, where spatial detail matters most.
  std::vector<int> strides(positions, 1);
  for (int i = positions - halvings; i < positions; ++i) strides[i] = 2;
  return strides;
}

int output_size(int size, const std::vector<int>& strides) {
  for (int s : strides) size = (size + s - 1) / s;  // 3x3, padding 1
  return size;
}

// conv-BN-ReLU-conv-BN plus shortcut (He et al. 2016).
class BasicBlockImpl : public tnn::Module {
 public:
  BasicBlockImpl(int in, int out, int stride, bool batchnorm)
      : conv1(register_module("conv1", conv3x3(in, out, stride))),
        bn1(norm(out, batchnorm)),
        conv2(register_module("conv2", conv3x3(out, out, 1))),
        bn2(norm(out, batchnorm)) {
    if (batchnorm) {
      register_module("bn1", bn1);
      register_module("bn2", bn2);
    }
    if (stride != 1 || in != out)
      shortcut = register_module("shortcut", projection(in, out, stride, batchnorm));
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor y = torch::relu(normalise(bn1, conv1(x)));
    y = normalise(bn2, conv2(y));
    return torch::relu(y + (shortcut ? shortcut->forward(x) : x));
  }
  tnn::Conv2d conv1;
  tnn::BatchNorm2d bn1;
  tnn::Conv2d conv2;
  tnn::BatchNorm2d bn2;
  tnn::Sequential shortcut{nullptr};
};
TORCH_MODULE(BasicBlock);

TrunkBlock trunk_block(const BasicBlockImpl& b) {
  TrunkBlock t{{b.conv1, b.bn1}, {b.conv2, b.bn2}, std::nullopt};
  if (b.shortcut)
    t.shortcut = ConvBn{
        tnn::Conv2d(std::dynamic_pointer_cast<tnn::Conv2dImpl>(b.shortcut->ptr(0))),
        tnn::BatchNorm2d(std::dynamic_pointer_cast<tnn::BatchNorm2dImpl>(b.shortcut->ptr(1)))};
  return t;
}

// Null where hymask was built without oneDNN: LibTorch's modules then compute the trunk.
std::unique_ptr<TrainingTrunk> onednn_trunk_if_built(ConvBn stem, std::vector<TrunkBlock> blocks) {
#ifdef HYMASK_HAVE_ONEDNN
  return make_onednn_trunk(std::move(stem), std::move(blocks));
#else
  return nullptr;
#endif
}

// BN-conv-BN-PReLU-conv-BN plus shortcut: the IResNet block of ArcFace.
class IBasicBlockImpl : public tnn::Module {
 public:
  IBasicBlockImpl(int in, int out, int stride, bool batchnorm)
      : bn1(norm(in, batchnorm)),
        conv1(register_module("conv1", conv3x3(in, out, 1))),
        bn2(norm(out, batchnorm)),
        prelu(register_module("prelu", tnn::PReLU(tnn::PReLUOptions().num_parameters(out)))),
        conv2(register_module("conv2", conv3x3(out, out, stride))),
        bn3(norm(out, batchnorm)) {
    if (batchnorm) {
      register_module("bn1", bn1);
      register_module("bn2", bn2);
      register_module("bn3", bn3);
    }
    if (stride != 1 || in != out)
      shortcut = register_module("shortcut", projection(in, out, stride, batchnorm));
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor y = normalise(bn3, conv2(prelu(normalise(bn2, conv1(normalise(bn1, x))))));
    return y + (shortcut ? shortcut->forward(x) : x);
  }
  tnn::BatchNorm2d bn1;
  tnn::Conv2d conv1;
  tnn::BatchNorm2d bn2;
  tnn::PReLU prelu;
  tnn::Conv2d conv2;
  tnn::BatchNorm2d bn3;
  tnn::Sequential shortcut{nullptr};
};
TORCH_MODULE(IBasicBlock);

// Stages of residual blocks, then BN, flatten, a linear map to the embedding, and a BN on it.
class ResidualNet : public Backbone {
 public:
  ResidualNet(const BackboneOptions& o, bool improved, const std::vector<int>& depths,
              const std::vector<int>& widths, int stem_width, int final_size) {
    // Downsampling points: the stem (plain net only) and the first block of each stage.
    const int positions = int(depths.size()) + (improved ? 0 : 1);
    const std::vector<int> strides = stride_plan(o.in_size, final_size, positions);
    int at = 0;
    tnn::Conv2d stem_conv = conv3x3(o.in_channels, stem_width, improved ? 1 : strides[at++]);
    tnn::BatchNorm2d stem_bn = norm(stem_width, o.batchnorm);
    stem = register_module("stem", tnn::Sequential(stem_conv));
    if (o.batchnorm) stem->push_back(stem_bn);
    if (improved)
      stem->push_back(tnn::PReLU(tnn::PReLUOptions().num_parameters(stem_width)));
    else
      stem->push_back(tnn::Functional([](torch::Tensor x) { return torch::relu(x); }));
    int in = stem_width;
    const bool onednn_trunk = o.onednn && !improved && o.batchnorm;
    std::vector<TrunkBlock> trunk_blocks;
    for (size_t s = 0; s < depths.size(); ++s) {
      for (int b = 0; b < depths[s]; ++b) {
        const int stride = b == 0 ? strides[at] : 1;
        if (improved) {
          blocks->push_back(IBasicBlock(in, widths[s], stride, o.batchnorm));
        } else {
          BasicBlock block(in, widths[s], stride, o.batchnorm);
          blocks->push_back(block);
          if (onednn_trunk) trunk_blocks.push_back(trunk_block(*block));
        }
        in = widths[s];
      }
      ++at;
    }
    register_module("blocks", blocks);
    const int side = output_size(o.in_size, strides);
    fc = register_module("fc", tnn::Linear(in * side * side, o.embedding));
    if (o.batchnorm) {
      bn = register_module("bn", tnn::BatchNorm2d(in));
      features = register_module("features", tnn::BatchNorm1d(o.embedding));
    }
    if (onednn_trunk) trunk = onednn_trunk_if_built({stem_conv, stem_bn}, std::move(trunk_blocks));
  }

  torch::Tensor forward(torch::Tensor x) override {
    x = trunk && trunk->applies(x) ? trunk_forward(x) : blocks->forward(stem->forward(x));
    x = fc(normalise(bn, x).flatten(1));
    return features ? features(x) : x;
  }

 private:
  torch::Tensor trunk_forward(const torch::Tensor& x) {
    try {
      return trunk->forward(x);
    } catch (const TrunkDoesNotApply& e) {  // before it computed anything
      spdlog::warn("{}: LibTorch computes the backbone from here on", e.what());
      trunk.reset();
      return blocks->forward(stem->forward(x));
    }
  }

  tnn::Sequential stem{nullptr};
  tnn::Sequential blocks;
  tnn::BatchNorm2d bn{nullptr};
  tnn::Linear fc{nullptr};
  tnn::BatchNorm1d features{nullptr};
  std::unique_ptr<TrainingTrunk> trunk;  // null: LibTorch's modules compute the trunk
};

}  // namespace

std::shared_ptr<Backbone> make_backbone(const BackboneOptions& o) {
  if (o.in_channels < 1 || o.in_size < 1 || o.embedding < 1)
    throw ConfigError("backbone needs positive input channels, input size and embedding size");
  if (o.name == "resnet-s")
    return std::make_shared<ResidualNet>(o, false, std::vector<int>{1, 1, 1, 1},
                                         std::vector<int>{32, 64, 128, 256}, 32, 4);
  if (o.name == "iresnet18")
    return std::make_shared<ResidualNet>(o, true, std::vector<int>{2, 2, 2, 2},
                                         std::vector<int>{64, 128, 256, 512}, 64, 7);
  if (o.name == "iresnet50")
    return std::make_shared<ResidualNet>(o, true, std::vector<int>{3, 4, 14, 3},
                                         std::vector<int>{64, 128, 256, 512}, 64, 7);
  throw ConfigError("model.backbone must be resnet-s, iresnet18 or iresnet50, not '" + o.name +
                    "'");
}

}  // namespace hymask::nn
