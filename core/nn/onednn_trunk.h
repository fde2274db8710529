// The convolutional trunk of resnet-s (stem and basic blocks) trained through oneDNN directly,
// for float32 and bfloat16 (autocast) training on the CPU. Same layers, same parameters and the
// same BatchNorm running statistics as the LibTorch modules it reads; only how they are computed
// differs:
//  - LibTorch hands oneDNN plain NCHW tensors, so every convolution reorders its input into
//    oneDNN's blocked layout and its output back, forward and backward. Here the activations
//    stay blocked (nChw16c) from the stem to the last block: one reorder in, one out.
//  - In float32, 3x3 stride-1 convolutions use oneDNN's Winograd F(4x4, 3x3) kernels (fewer
//    multiplies, the same convolution up to float32 rounding), which LibTorch never selects.
//  - Under CPU autocast to bfloat16 the activations are bfloat16, as autocast's convolutions
//    make them; BatchNorm statistics, parameters and their gradients stay float32.
// Evaluation (BatchNorm with running statistics), other dtypes and devices stay on LibTorch.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/types.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

namespace hymask::nn {

// A convolution (no bias) followed by its BatchNorm.
struct ConvBn {
  torch::nn::Conv2d conv;
  torch::nn::BatchNorm2d bn;
};

// relu(second(relu(first(x))) + (shortcut ? shortcut(x) : x)), as BasicBlock.
struct TrunkBlock {
  ConvBn first;
  ConvBn second;
  std::optional<ConvBn> shortcut;
};

// Why a trunk cannot compute an input it was given (its kernels lack the shape or options),
// raised before it computes anything: the caller falls back to the LibTorch modules. Any other
// error is a real failure and propagates.
class TrunkDoesNotApply : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The trunk computed by other kernels than the LibTorch modules it reads.
class TrainingTrunk {
 public:
  virtual ~TrainingTrunk() = default;

  // Whether forward() takes `x`: a 4-D float32 CPU tensor that needs no gradient itself, outside
  // autocast or under CPU autocast to bfloat16, with every BatchNorm in training mode with a
  // fixed momentum.
  virtual bool applies(const torch::Tensor& x) const = 0;

  // The trunk's output in NCHW, with autograd history when gradients are enabled. Updates the
  // BatchNorms' running statistics as LibTorch does. Throws TrunkDoesNotApply, before it
  // computes anything, when the kernels cannot compute this shape.
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

// relu(stem(x)), then the blocks in order, through oneDNN. Only where hymask was built with
// oneDNN (HYMASK_HAVE_ONEDNN). `winograd` false: direct convolutions only.
std::unique_ptr<TrainingTrunk> make_onednn_trunk(ConvBn stem, std::vector<TrunkBlock> blocks,
                                                 bool winograd = true);

}  // namespace hymask::nn
