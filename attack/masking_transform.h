// The masking transform of a run as a differentiable LibTorch function of pixels, for attacks
// that optimise an image through it (model inversion): bilinear upsampling (align_corners =
// false, as BlockDct) and the 8 x 8 block DCT as a stride-8 convolution with the kept basis
// images; or, in the spectrum domain, the high-pass image through torch::fft. Unmixed (k = 1),
// noise-free, unpermuted: what the attacker can compute.
#pragma once

#include <torch/types.h>

#include "core/masking.h"

namespace hymask::attack {

class MaskingTransform {
 public:
  explicit MaskingTransform(const Masker& masker);
  // pixels: B x planes x S x S (centred) -> B x masker.channels() x n x n.
  torch::Tensor operator()(const torch::Tensor& pixels) const;

 private:
  int planes_;
  int upsample_;
  SampleDomain domain_;
  torch::Tensor basis_;  // block DCT: kept x 1 x 8 x 8
  torch::Tensor band_;   // spectrum: S x S, 1 on the frequencies removed
};

}  // namespace hymask::attack
