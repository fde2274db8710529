// Image similarity scores of the attack suite, on one plane of S x S values in pixel units
// (0..255; callers add 128 to centred planes and clamp).
//   SSIM (Wang et al., IEEE TIP 2004): 11 x 11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03,
//        L = 255, averaged over the windows that lie inside the image (no padding).
//   PSNR: 10 log10(255^2 / MSE), capped at 100 dB for identical images.
#pragma once

namespace hymask {

double ssim(const float* a, const float* b, int size);
double psnr(const float* a, const float* b, int size);

}  // namespace hymask
