#include "core/spectrum.h"

#include <cmath>
#include <complex>

#include "core/error.h"

namespace hymask {

SpectrumHighPass::SpectrumHighPass(int size, double cutoff)
    : size_(size), cutoff_(cutoff), reach_(cutoff < 0 ? -1 : int(std::floor(cutoff))) {
  if (size < 2) throw ConfigError("the spectrum transform needs images of at least 2 x 2 pixels");
  if (2 * reach_ >= size)
    throw ConfigError("mask.domain spectrum: the cutoff radius " + std::to_string(cutoff) +
                      " reaches the Nyquist frequency of " + std::to_string(size) +
                      "-pixel faces: lower mask.drop_level");
  const int n = 2 * reach_ + 1;
  for (int fy = -reach_; fy <= reach_; ++fy)
    for (int fx = -reach_; fx <= reach_; ++fx)
      if (double(fy) * fy + double(fx) * fx <= cutoff * cutoff)
        band_.emplace_back(fy + reach_, fx + reach_);
  cos_.resize(size_t(std::max(n, 0)) * size);
  sin_.resize(cos_.size());
  for (int f = 0; f < n; ++f)
    for (int x = 0; x < size; ++x) {
      // Reduce f x modulo S first: the angle stays small and exact.
      const double angle = 2 * M_PI * double(((f - reach_) * x % size + size) % size) / size;
      cos_[size_t(f) * size + x] = std::cos(angle);
      sin_[size_t(f) * size + x] = std::sin(angle);
    }
}

double SpectrumHighPass::cutoff_for_drop_level(int size, int drop_level) {
  return drop_level < 0 ? -1.0 : (drop_level + 1) * size / 16.0;
}

bool SpectrumHighPass::removes(int fy, int fx) const {
  const double y = fy <= size_ / 2 ? fy : fy - size_, x = fx <= size_ / 2 ? fx : fx - size_;
  return cutoff_ >= 0 && y * y + x * x <= cutoff_ * cutoff_;
}

void SpectrumHighPass::low_pass(const double* in, double* out, int planes) const {
  using Complex = std::complex<double>;
  const int s = size_, n = 2 * reach_ + 1;
  const size_t plane = size_t(s) * s;
  if (band_.empty()) {
    std::fill(out, out + plane * planes, 0.0);
    return;
  }
  std::vector<Complex> rows(size_t(s) * n), spectrum(size_t(n) * n), back(size_t(s) * n);
  for (int p = 0; p < planes; ++p) {
    const double* x = in + plane * p;
    // rows[y][fx] = sum_x x[y][x] e^{-2 pi i fx x / S}
    for (int y = 0; y < s; ++y)
      for (int f = 0; f < n; ++f) {
        double re = 0, im = 0;
        for (int c = 0; c < s; ++c) {
          re += x[size_t(y) * s + c] * cos_[size_t(f) * s + c];
          im -= x[size_t(y) * s + c] * sin_[size_t(f) * s + c];
        }
        rows[size_t(y) * n + f] = {re, im};
      }
    // The band's coefficients X[fy][fx] = sum_y rows[y][fx] e^{-2 pi i fy y / S}; others stay 0.
    std::fill(spectrum.begin(), spectrum.end(), Complex());
    for (const auto& [fy, fx] : band_) {
      Complex sum;
      for (int y = 0; y < s; ++y)
        sum +=
            rows[size_t(y) * n + fx] * Complex(cos_[size_t(fy) * s + y], -sin_[size_t(fy) * s + y]);
      spectrum[size_t(fy) * n + fx] = sum;
    }
    // Inverse over the band: back[y][fx] = sum_fy X e^{+2 pi i fy y / S}, then over fx.
    for (int y = 0; y < s; ++y)
      for (int fx = 0; fx < n; ++fx) {
        Complex sum;
        for (int fy = 0; fy < n; ++fy)
          sum += spectrum[size_t(fy) * n + fx] *
                 Complex(cos_[size_t(fy) * s + y], sin_[size_t(fy) * s + y]);
        back[size_t(y) * n + fx] = sum;
      }
    double* o = out + plane * p;
    const double scale = 1.0 / (double(s) * s);
    for (int y = 0; y < s; ++y)
      for (int c = 0; c < s; ++c) {
        double re = 0;  // the real part: the band is symmetric, so the imaginary part is 0
        for (int fx = 0; fx < n; ++fx) {
          const Complex& b = back[size_t(y) * n + fx];
          re += b.real() * cos_[size_t(fx) * s + c] - b.imag() * sin_[size_t(fx) * s + c];
        }
        o[size_t(y) * s + c] = re * scale;
      }
  }
}

void SpectrumHighPass::forward(const double* in, double* out, int planes) const {
  const size_t count = size_t(size_) * size_ * planes;
  std::vector<double> low(count);
  low_pass(in, low.data(), planes);
  for (size_t i = 0; i < count; ++i) out[i] = in[i] - low[i];
}

void SpectrumHighPass::forward(const float* in, float* out, int planes) const {
  const size_t count = size_t(size_) * size_ * planes;
  std::vector<double> x(in, in + count), high(count);
  forward(x.data(), high.data(), planes);
  for (size_t i = 0; i < count; ++i) out[i] = float(high[i]);
}

}  // namespace hymask
