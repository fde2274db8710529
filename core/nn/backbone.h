// Face-recognition backbones whose stem takes whatever the masking produces: C channels of n x n
// (C = kept frequency channels x planes, n = S*u/8; or raw pixels). They map a batch to
// `embedding`-d features.
//   resnet-s:   a small residual network sized for CPU training (ORL in minutes on 2 cores).
//   iresnet18 / iresnet50: the improved ResNets of ArcFace (Deng et al. 2019; Duta et al. 2020),
//               the standard of the field, for GPUs.
// Both downsample as often as the input size needs (a 14 x 14 input is not halved four times).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>

namespace hymask::nn {

struct BackboneOptions {
  std::string name = "resnet-s";
  int in_channels = 1;
  int in_size = 112;
  int embedding = 512;
  bool batchnorm = true;  // false: no normalisation layers (exact data-parallel equivalence)
  // resnet-s with BatchNorm: train the convolutional trunk through oneDNN directly
  // (core/nn/onednn_trunk.h) where hymask was built with it; false: LibTorch's modules only.
  bool onednn = true;
};

class Backbone : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
};

// Throws ConfigError for an unknown name.
std::shared_ptr<Backbone> make_backbone(const BackboneOptions& options);

}  // namespace hymask::nn
