// The attack suite's numerical parts: image metrics against naive float64 references, and the
// linear attack's recovery of what the transform keeps.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/image_metrics.h"
#include "core/linear_attack.h"
#include "core/random.h"

namespace hymask {
namespace {

std::vector<float> random_image(int size, uint64_t seed, float lo = 0, float hi = 255) {
  Rng rng(seed);
  std::vector<float> x(size_t(size) * size);
  for (float& v : x) v = float(rng.uniform(lo, hi));
  return x;
}

// SSIM by its definition: for every 11 x 11 window inside the image, Gaussian-weighted means,
// variances and covariance in float64, then the mean of the per-window index.
double naive_ssim(const std::vector<float>& a, const std::vector<float>& b, int size) {
  double w[11][11], total_w = 0;
  for (int i = 0; i < 11; ++i)
    for (int j = 0; j < 11; ++j)
      total_w += w[i][j] = std::exp(-((i - 5) * (i - 5) + (j - 5) * (j - 5)) / (2 * 1.5 * 1.5));
  const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
  double sum = 0;
  int count = 0;
  for (int y = 0; y + 11 <= size; ++y)
    for (int x = 0; x + 11 <= size; ++x) {
      double ma = 0, mb = 0;
      for (int i = 0; i < 11; ++i)
        for (int j = 0; j < 11; ++j) {
          ma += w[i][j] / total_w * a[(y + i) * size + x + j];
          mb += w[i][j] / total_w * b[(y + i) * size + x + j];
        }
      double va = 0, vb = 0, cov = 0;
      for (int i = 0; i < 11; ++i)
        for (int j = 0; j < 11; ++j) {
          const double da = a[(y + i) * size + x + j] - ma, db = b[(y + i) * size + x + j] - mb;
          va += w[i][j] / total_w * da * da;
          vb += w[i][j] / total_w * db * db;
          cov += w[i][j] / total_w * da * db;
        }
      sum += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      ++count;
    }
  return sum / count;
}

TEST(ImageMetrics, SsimMatchesTheNaiveDefinition) {
  const int size = 32;
  const std::vector<float> a = random_image(size, 1);
  std::vector<float> b = a;
  Rng rng(2);
  for (float& v : b) v = std::clamp(v + float(rng.normal() * 40), 0.0f, 255.0f);
  // The separable filter sums in another order: agreement to 1e-9 (float64 rounding).
  EXPECT_NEAR(ssim(a.data(), b.data(), size), naive_ssim(a, b, size), 1e-9);
  EXPECT_NEAR(ssim(a.data(), a.data(), size), 1.0, 1e-12);
  const std::vector<float> unrelated = random_image(size, 3);
  EXPECT_LT(ssim(a.data(), unrelated.data(), size), 0.1);
}

TEST(ImageMetrics, PsnrOfAConstantOffset) {
  const int size = 16;
  const std::vector<float> a = random_image(size, 4, 20, 200);
  std::vector<float> b = a;
  for (float& v : b) v += 10;
  // Float32 inputs: the offset is exact to ~1e-5, the score to ~1e-6 dB.
  EXPECT_NEAR(psnr(a.data(), b.data(), size), 10 * std::log10(255.0 * 255.0 / 100.0), 1e-5);
  EXPECT_EQ(psnr(a.data(), a.data(), size), 100.0);
}

std::vector<float> mean_plus(const std::vector<float>& x, double mean) {
  return std::vector<float>(x.size(), float(mean));
}

double mean_of(const std::vector<float>& x) {
  return std::accumulate(x.begin(), x.end(), 0.0) / double(x.size());
}

double max_difference(const float* a, const float* b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; ++i) d = std::max(d, std::abs(double(a[i]) - b[i]));
  return d;
}

MaskOptions frequency(Method method, int upsample, int drop_level, int k = 1) {
  MaskOptions o;
  o.method = method;
  o.upsample = upsample;
  o.drop_level = drop_level;
  o.k = k;
  o.seed = 3;
  return o;
}

TEST(LinearAttack, RecoversTheFaceFromUpsampledMaskingUpToTheMean) {
  const int size = 24;
  const Masker masker(frequency(Method::kMask, 2, 3), size, ColorMode::kGrey);
  const std::vector<float> x = random_image(size, 5, -128, 127);
  MaskedBatch out;
  masker.apply(x.data(), {7}, 0, masker.default_action(), out);
  // A prior with the right global mean: the only thing u = 2 cannot see.
  const LinearAttack attack(masker, mean_plus(x, mean_of(x)));
  std::vector<float> recovered(x.size());
  attack.reconstruct(out.data.data(), recovered.data());
  EXPECT_LT(max_difference(recovered.data(), x.data(), x.size()), 0.05);  // of a 255 range
}

TEST(LinearAttack, FillsTheDroppedBlockMeansFromThePriorAtU1) {
  const int size = 16;
  const Masker masker(frequency(Method::kMask, 1, 0), size, ColorMode::kGrey);
  const std::vector<float> x = random_image(size, 6, -128, 127);
  MaskedBatch out;
  masker.apply(x.data(), {1}, 0, masker.default_action(), out);
  const std::vector<float> prior = random_image(size, 7, -50, 50);
  const LinearAttack attack(masker, prior);
  std::vector<float> recovered(x.size());
  attack.reconstruct(out.data.data(), recovered.data());
  // Each 8 x 8 block: the detail of x, the mean of the prior.
  for (int by = 0; by < size / 8; ++by)
    for (int bx = 0; bx < size / 8; ++bx) {
      double mx = 0, mp = 0;
      for (int y = 0; y < 8; ++y)
        for (int c = 0; c < 8; ++c) {
          mx += x[(by * 8 + y) * size + bx * 8 + c] / 64.0;
          mp += prior[(by * 8 + y) * size + bx * 8 + c] / 64.0;
        }
      for (int y = 0; y < 8; ++y)
        for (int c = 0; c < 8; ++c) {
          const int i = (by * 8 + y) * size + bx * 8 + c;
          EXPECT_NEAR(recovered[i], x[i] - mx + mp, 1e-3);
        }
    }
}

// The spectrum domain's sample is an orthogonal projection of the face: the attack keeps it and
// takes the removed band from the prior. With the face itself as prior, the face comes back.
TEST(LinearAttack, FillsTheSpectrumsRemovedBandFromThePrior) {
  const int size = 16;
  MaskOptions o = frequency(Method::kMask, 1, 0);
  o.domain = MaskDomain::kSpectrum;
  const Masker masker(o, size, ColorMode::kGrey);
  const std::vector<float> x = random_image(size, 6, -128, 127);
  MaskedBatch out;
  masker.apply(x.data(), {1}, 0, masker.default_action(), out);
  std::vector<float> recovered(x.size());
  LinearAttack(masker, x).reconstruct(out.data.data(), recovered.data());
  EXPECT_LT(max_difference(recovered.data(), x.data(), x.size()), 1e-3);
  const std::vector<float> prior = random_image(size, 7, -50, 50);
  LinearAttack(masker, prior).reconstruct(out.data.data(), recovered.data());
  // Reference: the face's high-pass part plus the prior's low-pass part, in float64.
  const SpectrumHighPass spectrum(size, 1.0);
  std::vector<double> xd(x.begin(), x.end()), pd(prior.begin(), prior.end()), hx(x.size()),
      lp(x.size());
  spectrum.forward(xd.data(), hx.data(), 1);
  spectrum.low_pass(pd.data(), lp.data(), 1);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(recovered[i], hx[i] + lp[i], 1e-3);
}

TEST(LinearAttack, RecoversThePixelMixtureOfAFrequencyMixUp) {
  const int size = 24, batch = 6;
  const Masker masker(frequency(Method::kMixup, 2, 2, 2), size, ColorMode::kGrey);
  std::vector<float> pixels;
  for (int i = 0; i < batch; ++i) {
    const std::vector<float> x = random_image(size, 10 + i, -128, 127);
    pixels.insert(pixels.end(), x.begin(), x.end());
  }
  std::vector<uint64_t> keys(batch);
  std::iota(keys.begin(), keys.end(), 0);
  MaskedBatch out;
  // An action one level above the base: channels zeroed in the sample, which the attack must
  // treat as missing rather than as observed zeros.
  MixAction action = masker.default_action();
  action.drop_level = 3;
  masker.apply(pixels.data(), keys, 2, action, out);
  const size_t n = size_t(size) * size;
  for (int i = 0; i < batch; ++i) {
    std::vector<float> mixture(n, 0.0f);
    for (int j = 0; j < 2; ++j)
      for (size_t e = 0; e < n; ++e)
        mixture[e] += out.weights[i * 2 + j] * pixels[out.members[i * 2 + j] * n + e];
    const LinearAttack attack(masker, mean_plus(mixture, mean_of(mixture)));
    std::vector<float> recovered(n);
    attack.reconstruct(out.data.data() + out.sample_size() * i, recovered.data());
    EXPECT_LT(max_difference(recovered.data(), mixture.data(), n), 0.05) << "sample " << i;
  }
}

TEST(LinearAttack, RefusesSecretChannelOrders) {
  MaskOptions o = frequency(Method::kMask, 1, 0);
  o.permute_channels = true;
  const Masker masker(o, 16, ColorMode::kGrey);
  EXPECT_THROW(LinearAttack(masker, std::vector<float>(256)), ConfigError);
}

}  // namespace
}  // namespace hymask
