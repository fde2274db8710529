#include "attack/masking_transform.h"

#include <torch/fft.h>
#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/upsampling.h>

#include <cmath>

namespace hymask::attack {
namespace F = torch::nn::functional;

MaskingTransform::MaskingTransform(const Masker& masker)
    : planes_(masker.planes()), upsample_(masker.options().upsample), domain_(masker.domain()) {
  if (const SpectrumHighPass* spectrum = masker.spectrum()) {
    const int s = spectrum->size();
    band_ = torch::zeros({s, s});
    auto band = band_.accessor<float, 2>();
    for (int fy = 0; fy < s; ++fy)
      for (int fx = 0; fx < s; ++fx) band[fy][fx] = spectrum->removes(fy, fx);
  }
  if (domain_ != SampleDomain::kBlockDct) return;
  const std::vector<int> ids = masker.channel_ids();
  const int kept = int(ids.size()) / planes_;
  basis_ = torch::empty({kept, 1, 8, 8});
  auto b = basis_.accessor<float, 4>();
  auto dct = [](int f, int i) {
    return (f == 0 ? std::sqrt(1.0 / 8) : std::sqrt(2.0 / 8)) *
           std::cos(M_PI * (2 * i + 1) * f / 16);
  };
  for (int c = 0; c < kept; ++c) {
    const int v = (ids[c] % 64) / 8, h = (ids[c] % 64) % 8;
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) b[c][0][y][x] = float(dct(v, y) * dct(h, x));
  }
}

torch::Tensor MaskingTransform::operator()(const torch::Tensor& pixels) const {
  if (domain_ == SampleDomain::kPixels) return pixels;
  if (domain_ == SampleDomain::kSpectrum) {
    const torch::Tensor low =
        torch::real(torch::fft::ifft2(torch::fft::fft2(pixels) * band_.to(pixels.device())));
    return pixels - low.to(pixels.dtype());
  }
  const int64_t batch = pixels.size(0), size = pixels.size(2);
  torch::Tensor x = pixels.reshape({batch * planes_, 1, size, size});
  if (upsample_ > 1)
    x = F::interpolate(x,
                       F::InterpolateFuncOptions()
                           .scale_factor(std::vector<double>{double(upsample_), double(upsample_)})
                           .mode(torch::kBilinear)
                           .align_corners(false));
  x = F::conv2d(x, basis_.to(x.dtype()), F::Conv2dFuncOptions().stride(8));
  return x.reshape({batch, -1, x.size(2), x.size(3)});
}

}  // namespace hymask::attack
