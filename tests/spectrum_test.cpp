#include "core/spectrum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/random.h"

namespace hymask {
namespace {

std::vector<double> random_planes(int size, int planes, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> x(size_t(size) * size * planes);
  for (double& v : x) v = rng.uniform(-128, 127);
  return x;
}

// Reference: the full 2-D DFT by its definition (float64, O(S^4)), the band zeroed, the inverse
// DFT by its definition.
std::vector<double> naive_high_pass(const std::vector<double>& x, int size, int planes,
                                    double cutoff, int* removed) {
  const size_t plane = size_t(size) * size;
  std::vector<double> out(x.size());
  *removed = 0;
  for (int p = 0; p < planes; ++p) {
    std::vector<double> re(plane), im(plane);
    for (int fy = 0; fy < size; ++fy)
      for (int fx = 0; fx < size; ++fx) {
        const int sy = fy <= size / 2 ? fy : fy - size, sx = fx <= size / 2 ? fx : fx - size;
        if (cutoff >= 0 && double(sy) * sy + double(sx) * sx <= cutoff * cutoff) {
          *removed += p == 0;
          continue;
        }
        for (int y = 0; y < size; ++y)
          for (int c = 0; c < size; ++c) {
            const double angle = -2 * M_PI * (double(fy) * y + double(fx) * c) / size;
            re[size_t(fy) * size + fx] += x[plane * p + size_t(y) * size + c] * std::cos(angle);
            im[size_t(fy) * size + fx] += x[plane * p + size_t(y) * size + c] * std::sin(angle);
          }
      }
    for (int y = 0; y < size; ++y)
      for (int c = 0; c < size; ++c) {
        double sum = 0;
        for (int fy = 0; fy < size; ++fy)
          for (int fx = 0; fx < size; ++fx) {
            const double angle = 2 * M_PI * (double(fy) * y + double(fx) * c) / size;
            sum += re[size_t(fy) * size + fx] * std::cos(angle) -
                   im[size_t(fy) * size + fx] * std::sin(angle);
          }
        out[plane * p + size_t(y) * size + c] = sum / plane;
      }
  }
  return out;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::abs(e));
  return m;
}

TEST(Spectrum, HighPassMatchesTheDefinitionOfTheDft) {
  // Even and odd sizes, integer and fractional radii, nothing removed (-1) and DC alone (0).
  for (const auto& [size, cutoff] : std::vector<std::pair<int, double>>{
           {16, 3.0}, {15, 2.5}, {16, -1.0}, {12, 0.0}, {14, 6.2}}) {
    const int planes = 2;
    const std::vector<double> x = random_planes(size, planes, 7 + size);
    int removed = 0;
    const std::vector<double> want = naive_high_pass(x, size, planes, cutoff, &removed);
    const SpectrumHighPass transform(size, cutoff);
    std::vector<double> got(x.size());
    transform.forward(x.data(), got.data(), planes);
    std::vector<double> error(x.size());
    for (size_t i = 0; i < x.size(); ++i) error[i] = got[i] - want[i];
    EXPECT_LT(max_abs(error), 1e-9 * max_abs(x)) << size << " " << cutoff;
    EXPECT_EQ(transform.removed(), removed) << size << " " << cutoff;
    // float32 path: the same to float rounding.
    std::vector<float> xf(x.begin(), x.end()), gf(x.size());
    transform.forward(xf.data(), gf.data(), planes);
    for (size_t i = 0; i < x.size(); ++i) error[i] = gf[i] - want[i];
    EXPECT_LT(max_abs(error), 1e-5 * max_abs(x)) << size << " " << cutoff;
  }
}

TEST(Spectrum, HighPassIsAProjectionWithoutTheMean) {
  const int size = 32, planes = 1;
  const SpectrumHighPass transform(size, SpectrumHighPass::cutoff_for_drop_level(size, 0));
  EXPECT_DOUBLE_EQ(transform.cutoff(), 2.0);
  const std::vector<double> x = random_planes(size, planes, 3);
  std::vector<double> once(x.size()), twice(x.size()), error(x.size());
  transform.forward(x.data(), once.data(), planes);
  transform.forward(once.data(), twice.data(), planes);
  for (size_t i = 0; i < x.size(); ++i) error[i] = twice[i] - once[i];
  EXPECT_LT(max_abs(error), 1e-9 * max_abs(x));  // what is removed stays removed
  double mean = 0;
  for (double v : once) mean += v / once.size();
  EXPECT_LT(std::abs(mean), 1e-9 * max_abs(x));          // DC is in every band
  EXPECT_THROW(SpectrumHighPass(16, 8.0), ConfigError);  // reaches Nyquist
}

}  // namespace
}  // namespace hymask
