#include "core/image_metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace hymask {
namespace {

constexpr int kRadius = 5;  // 11 x 11 window

std::array<double, 2 * kRadius + 1> gaussian_window() {
  std::array<double, 2 * kRadius + 1> w{};
  double total = 0;
  for (int i = -kRadius; i <= kRadius; ++i) total += w[i + kRadius] = std::exp(-i * i / 4.5);
  for (double& v : w) v /= total;
  return w;
}

// Separable "valid" Gaussian filter: (size - 10)^2 outputs.
std::vector<double> blur(const std::vector<double>& x, int size) {
  static const auto w = gaussian_window();
  const int out = size - 2 * kRadius;
  std::vector<double> rows(size_t(size) * out), result(size_t(out) * out);
  for (int y = 0; y < size; ++y)
    for (int c = 0; c < out; ++c) {
      double s = 0;
      for (int t = 0; t <= 2 * kRadius; ++t) s += w[t] * x[size_t(y) * size + c + t];
      rows[size_t(y) * out + c] = s;
    }
  for (int r = 0; r < out; ++r)
    for (int c = 0; c < out; ++c) {
      double s = 0;
      for (int t = 0; t <= 2 * kRadius; ++t) s += w[t] * rows[size_t(r + t) * out + c];
      result[size_t(r) * out + c] = s;
    }
  return result;
}

}  // namespace

double ssim(const float* a, const float* b, int size) {
  const size_t n = size_t(size) * size;
  std::vector<double> x(a, a + n), y(b, b + n), xx(n), yy(n), xy(n);
  for (size_t i = 0; i < n; ++i) {
    xx[i] = x[i] * x[i];
    yy[i] = y[i] * y[i];
    xy[i] = x[i] * y[i];
  }
  const std::vector<double> mx = blur(x, size), my = blur(y, size), sxx = blur(xx, size),
                            syy = blur(yy, size), sxy = blur(xy, size);
  const double c1 = std::pow(0.01 * 255, 2), c2 = std::pow(0.03 * 255, 2);
  double total = 0;
  for (size_t i = 0; i < mx.size(); ++i) {
    const double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i],
                 cov = sxy[i] - mx[i] * my[i];
    total += (2 * mx[i] * my[i] + c1) * (2 * cov + c2) /
             ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
  }
  return total / double(mx.size());
}

double psnr(const float* a, const float* b, int size) {
  const size_t n = size_t(size) * size;
  double mse = 0;
  for (size_t i = 0; i < n; ++i) mse += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  mse /= double(n);
  return mse <= 0 ? 100.0 : std::min(100.0, 10.0 * std::log10(255.0 * 255.0 / mse));
}

}  // namespace hymask
