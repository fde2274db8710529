#include "core/masking.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/random.h"

namespace hymask {
namespace {

constexpr int kSize = 16;

std::vector<float> random_pixels(int batch, int planes, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(size_t(batch) * planes * kSize * kSize);
  for (float& v : x) v = float(rng.uniform(-128, 128));
  return x;
}

std::vector<uint64_t> keys(int batch) {
  std::vector<uint64_t> k(batch);
  std::iota(k.begin(), k.end(), 1000);
  return k;
}

MaskOptions mixup(int k, WeightScheme scheme = WeightScheme::kDirichlet) {
  MaskOptions o;
  o.method = Method::kMixup;
  o.upsample = 2;
  o.drop_level = 1;
  o.k = k;
  o.weights = scheme;
  o.seed = 42;
  return o;
}

TEST(Masking, WeightsLieOnTheSimplexSortedAndCapped) {
  for (WeightScheme scheme : {WeightScheme::kDirichlet, WeightScheme::kGaussian}) {
    MaskOptions o = mixup(4, scheme);
    o.weight_cap = 0.4;
    const Masker masker(o, kSize, ColorMode::kGrey);
    const int batch = 32;
    MaskedBatch out;
    masker.apply(random_pixels(batch, 1, 1).data(), keys(batch), 3, masker.default_action(), out);
    ASSERT_EQ(out.k, 4);
    for (int i = 0; i < batch; ++i) {
      double sum = 0;
      std::set<int> members;
      for (int j = 0; j < 4; ++j) {
        const float w = out.weights[i * 4 + j];
        EXPECT_GE(w, 0.0f);
        EXPECT_LE(w, 0.4f + 1e-6f);
        if (j > 0) {
          EXPECT_LE(w, out.weights[i * 4 + j - 1]);
        }
        sum += w;
        members.insert(out.members[i * 4 + j]);
      }
      EXPECT_NEAR(sum, 1.0, 1e-6);
      EXPECT_EQ(members.size(), 4u) << "constituents must be distinct";
      EXPECT_TRUE(members.count(i)) << "the sample itself is a constituent";
    }
  }
}

// The cap is the action's: the options' cap is only its default, so the policy's finish can mix
// uncapped in a run whose other actions are capped. Same draws otherwise: below the cap, nothing
// changes.
TEST(Masking, TheActionsWeightCapGovernsItsMixtures) {
  MaskOptions o = mixup(2);
  o.weight_cap = 0.6;
  const Masker masker(o, kSize, ColorMode::kGrey);
  EXPECT_EQ(masker.default_action().weight_cap, 0.6);
  const int batch = 64;
  const std::vector<float> pixels = random_pixels(batch, 1, 5);
  MixAction uncapped = masker.default_action();
  uncapped.weight_cap = 1.0;
  MaskedBatch capped_out, uncapped_out;
  masker.apply(pixels.data(), keys(batch), 7, masker.default_action(), capped_out);
  masker.apply(pixels.data(), keys(batch), 7, uncapped, uncapped_out);
  EXPECT_EQ(capped_out.members, uncapped_out.members) << "the same partners, in the same order";
  int above = 0;
  for (int i = 0; i < batch; ++i) {
    const float top = uncapped_out.weights[i * 2];
    if (top > 0.6f) {
      ++above;
      EXPECT_FLOAT_EQ(capped_out.weights[i * 2], 0.6f);
    } else {
      EXPECT_FLOAT_EQ(capped_out.weights[i * 2], top);
    }
  }
  // Dirichlet(1, 1) puts the larger weight above 0.6 with probability 0.8.
  EXPECT_GT(above, batch / 2) << "the uncapped action must draw weights the cap would cut";
  MixAction impossible = uncapped;
  impossible.weight_cap = 0;
  EXPECT_THROW(masker.apply(pixels.data(), keys(batch), 7, impossible, capped_out), ConfigError);
}

// At a cap of 1/3 every mixture the policy draws (k = 2 or 3) is an equal-weight mixture: the
// cap binds k = 3, and a pair raises it to 1/2.
TEST(Masking, AnAdaptiveCapOfOneThirdMixesPairsAndTriplesEqually) {
  MaskOptions o = mixup(2);
  o.method = Method::kAdaptive;
  o.weight_cap = 1.0 / 3;
  const Masker masker(o, kSize, ColorMode::kGrey);
  const int batch = 16;
  const std::vector<float> pixels = random_pixels(batch, 1, 9);
  for (int k : {2, 3}) {
    MixAction action = masker.default_action();
    action.k = k;
    MaskedBatch out;
    masker.apply(pixels.data(), keys(batch), 5, action, out);
    ASSERT_EQ(out.k, k);
    for (int i = 0; i < batch * k; ++i) EXPECT_NEAR(out.weights[i], 1.0 / k, 1e-6) << "k " << k;
  }
}

// The largest difference between each masked sample and the weighted sum, with its reported
// members and weights, of the float64 transformed constituents (batch x sample).
double mixture_error(const MaskedBatch& out, const std::vector<double>& transformed) {
  const size_t sample = out.sample_size();
  double worst = 0;
  for (int i = 0; i < out.batch; ++i)
    for (size_t e = 0; e < sample; ++e) {
      double expected = 0;
      for (int j = 0; j < out.k; ++j)
        expected +=
            out.weights[i * out.k + j] * transformed[sample * out.members[i * out.k + j] + e];
      worst = std::max(worst, std::abs(expected - out.data[sample * i + e]));
    }
  return worst;
}

TEST(Masking, MixtureIsTheWeightedSumOfTheTransformedConstituents) {
  const Masker masker(mixup(3), kSize, ColorMode::kYCbCr);
  const int batch = 6;
  const std::vector<float> pixels = random_pixels(batch, 3, 2);
  MaskedBatch out;
  masker.apply(pixels.data(), keys(batch), 0, masker.default_action(), out);
  // Reference: transform each sample in float64, then mix with the reported weights.
  const BlockDct dct(kSize, 2, kept_channels_for_drop_level(1));
  const size_t sample = out.sample_size();
  ASSERT_EQ(sample, 3 * dct.plane_out_size());
  std::vector<double> transformed(sample * batch);
  const std::vector<double> pixels_d(pixels.begin(), pixels.end());
  dct.forward(pixels_d.data(), transformed.data(), batch * 3);
  EXPECT_LT(mixture_error(out, transformed), 1e-3);  // float32 sums of values up to ~1e3
}

// The spectrum domain: every sample is the weighted sum of its constituents' high-pass images
// (float64 reference: core/spectrum.h, itself checked against the DFT's definition), in the
// image's own shape; to_pixels is the sample itself. Channel options are refused.
TEST(Masking, SpectrumDomainMixesTheConstituentsHighPassImages) {
  MaskOptions o = mixup(3);
  o.domain = MaskDomain::kSpectrum;
  o.upsample = 1;
  const Masker masker(o, kSize, ColorMode::kYCbCr);
  EXPECT_EQ(masker.domain(), SampleDomain::kSpectrum);
  EXPECT_EQ(masker.channels(), 3);
  EXPECT_EQ(masker.out_size(), kSize);
  EXPECT_TRUE(masker.channel_ids().empty());
  const int batch = 5;
  const std::vector<float> pixels = random_pixels(batch, 3, 4);
  MaskedBatch out;
  masker.apply(pixels.data(), keys(batch), 0, masker.default_action(), out);
  const SpectrumHighPass reference(kSize, 2.0);  // drop level 1: (1 + 1) x 16 / 16
  const size_t sample = out.sample_size();
  std::vector<double> high(sample * batch);
  const std::vector<double> pixels_d(pixels.begin(), pixels.end());
  reference.forward(pixels_d.data(), high.data(), batch * 3);
  EXPECT_LT(mixture_error(out, high), 1e-3);  // float32 sums of values up to ~1e2
  std::vector<float> picture(sample);
  masker.to_pixels(out.data.data(), picture.data());
  EXPECT_TRUE(std::equal(picture.begin(), picture.end(), out.data.begin()));
  o.sign_flip = true;
  EXPECT_THROW(Masker(o, kSize, ColorMode::kGrey), ConfigError);
  o.sign_flip = false;
  o.upsample = 2;
  EXPECT_THROW(Masker(o, kSize, ColorMode::kGrey), ConfigError);
}

// The in-loop attacker's similarity, against a float64 reference: transform every face alone,
// mix with the reported weights, and take the cosine to the largest-weight constituent.
TEST(Masking, MainConstituentSimilarityMatchesItsDefinition) {
  MaskOptions o = mixup(3);
  o.upsample = 1;
  const Masker masker(o, kSize, ColorMode::kGrey);
  const int batch = 8;
  const std::vector<float> pixels = random_pixels(batch, 1, 4);
  MaskedBatch mixed, alone;
  const MixAction action = masker.default_action();
  masker.apply(pixels.data(), keys(batch), 2, action, mixed);
  masker.apply(pixels.data(), keys(batch), 2, {1, action.weights, action.drop_level}, alone);
  const BlockDct dct(kSize, 1, kept_channels_for_drop_level(1));
  const size_t sample = dct.plane_out_size();
  std::vector<double> transformed(sample * batch);
  const std::vector<double> pixels_d(pixels.begin(), pixels.end());
  dct.forward(pixels_d.data(), transformed.data(), batch);
  double expected = 0;
  for (int i = 0; i < batch; ++i) {
    const double* top = transformed.data() + sample * mixed.members[i * 3];
    double ab = 0, aa = 0, bb = 0;
    for (size_t e = 0; e < sample; ++e) {
      double mix = 0;
      for (int j = 0; j < 3; ++j)
        mix += mixed.weights[i * 3 + j] * transformed[sample * mixed.members[i * 3 + j] + e];
      ab += mix * top[e], aa += mix * mix, bb += top[e] * top[e];
    }
    expected += ab / std::sqrt(aa * bb) / batch;
  }
  const double measured = main_constituent_similarity(mixed, alone);
  EXPECT_NEAR(measured, expected, 1e-5);
  EXPECT_LT(measured, 0.99);  // three faces mixed hide the main one
  EXPECT_NEAR(main_constituent_similarity(alone, alone), 1.0, 1e-6);  // a face alone: itself
}

TEST(Masking, SameSeedStepAndSamplesGiveTheSameBytes) {
  const Masker masker(mixup(2), kSize, ColorMode::kGrey);
  const std::vector<float> pixels = random_pixels(8, 1, 3);
  MaskedBatch a, b, c;
  masker.apply(pixels.data(), keys(8), 5, masker.default_action(), a);
  masker.apply(pixels.data(), keys(8), 5, masker.default_action(), b);
  masker.apply(pixels.data(), keys(8), 6, masker.default_action(), c);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.members, b.members);
  EXPECT_NE(a.weights, c.weights);
}

TEST(Masking, ActionDropLevelZeroesExactlyTheIntendedChannels) {
  MaskOptions o = mixup(1);
  o.method = Method::kMask;
  o.drop_level = 0;
  const Masker masker(o, kSize, ColorMode::kGrey);
  const std::vector<int> ids = masker.channel_ids();
  ASSERT_EQ(ids.size(), 63u);
  MaskedBatch out;
  MixAction action = masker.default_action();
  EXPECT_EQ(action.k, 1);
  action.drop_level = 3;
  masker.apply(random_pixels(2, 1, 4).data(), keys(2), 0, action, out);
  const size_t plane = size_t(out.size) * out.size;
  for (size_t c = 0; c < ids.size(); ++c) {
    double energy = 0;
    for (size_t e = 0; e < plane; ++e) energy += std::abs(out.data[c * plane + e]);
    const int v = ids[c] / 8, h = ids[c] % 8;
    if (v + h <= 3)
      EXPECT_EQ(energy, 0.0) << "channel " << ids[c] << " should be dropped";
    else
      EXPECT_GT(energy, 0.0) << "channel " << ids[c] << " should be kept";
  }
  action.drop_level = -1;
  EXPECT_THROW(masker.apply(random_pixels(2, 1, 4).data(), keys(2), 0, action, out), ConfigError);
}

TEST(Masking, SignFlipAndSubsetKeepMagnitudesOrZero) {
  MaskOptions plain = mixup(2), secret = mixup(2);
  secret.sign_flip = true;
  secret.channel_subset = 10;
  const Masker a(plain, kSize, ColorMode::kGrey), b(secret, kSize, ColorMode::kGrey);
  const std::vector<float> pixels = random_pixels(4, 1, 5);
  MaskedBatch pa, pb;
  a.apply(pixels.data(), keys(4), 1, a.default_action(), pa);
  b.apply(pixels.data(), keys(4), 1, b.default_action(), pb);
  const size_t plane = size_t(pa.size) * pa.size;
  size_t flipped = 0;
  for (int i = 0; i < 4; ++i) {
    int kept_channels = 0;
    for (int c = 0; c < pa.channels; ++c) {
      const float* x = pa.data.data() + pa.sample_size() * i + c * plane;
      const float* y = pb.data.data() + pb.sample_size() * i + c * plane;
      bool zero = true;
      for (size_t e = 0; e < plane; ++e) zero &= y[e] == 0.0f;
      if (zero) continue;
      ++kept_channels;
      for (size_t e = 0; e < plane; ++e) {
        EXPECT_EQ(std::abs(x[e]), std::abs(y[e]));
        flipped += x[e] != y[e];
      }
    }
    EXPECT_EQ(kept_channels, 10);
  }
  EXPECT_GT(flipped, 100u);
}

TEST(Masking, PixelMethodsKeepTheImageShape) {
  MaskOptions o = mixup(4, WeightScheme::kGaussian);
  o.method = Method::kInstaHide;
  const Masker masker(o, kSize, ColorMode::kGrey);
  EXPECT_EQ(masker.domain(), SampleDomain::kPixels);
  EXPECT_EQ(masker.channels(), 1);
  EXPECT_EQ(masker.out_size(), kSize);
  const std::vector<float> pixels = random_pixels(5, 1, 6);
  MaskedBatch out;
  masker.apply(pixels.data(), keys(5), 0, masker.default_action(), out);
  const size_t n = kSize * kSize;
  for (size_t e = 0; e < n; e += 17) {
    double expected = 0;
    for (int j = 0; j < 4; ++j) expected += out.weights[j] * pixels[out.members[j] * n + e];
    EXPECT_NEAR(out.data[e], expected, 1e-3);
  }
}

TEST(Masking, ShortBatchesPadWithZeroWeights) {
  const Masker masker(mixup(4), kSize, ColorMode::kGrey);
  MaskedBatch out;
  masker.apply(random_pixels(2, 1, 7).data(), keys(2), 0, masker.default_action(), out);
  ASSERT_EQ(out.k, 4);
  EXPECT_EQ(out.weights[2], 0.0f);
  EXPECT_EQ(out.weights[3], 0.0f);
  EXPECT_NEAR(out.weights[0] + out.weights[1], 1.0f, 1e-6);
}

TEST(Masking, DpAddsLaplaceNoiseOfTheStatedScaleToClippedCoefficients) {
  MaskOptions o;
  o.method = Method::kDp;
  o.drop_level = 0;
  o.dp_epsilon = 4.0;
  o.dp_clip = 10.0;
  o.seed = 5;
  const Masker masker(o, kSize, ColorMode::kGrey);
  MaskOptions plain_options = o;
  plain_options.method = Method::kMask;
  const Masker plain(plain_options, kSize, ColorMode::kGrey);
  const int batch = 256;
  const std::vector<float> x = random_pixels(batch, 1, 9);
  MaskedBatch noisy, clean, again;
  masker.apply(x.data(), keys(batch), 1, masker.default_action(), noisy);
  masker.apply(x.data(), keys(batch), 1, masker.default_action(), again);
  plain.apply(x.data(), keys(batch), 1, plain.default_action(), clean);
  ASSERT_EQ(noisy.data.size(), clean.data.size());
  EXPECT_EQ(noisy.data, again.data);  // the noise is a function of (seed, step, sample)
  // Laplace(b): E|X| = b, P(X > 0) = 1/2. b = 2 * 10 / 4 = 5. Over ~16k draws the mean absolute
  // noise lies within 3 % of b (its standard error is b / sqrt(n) ~ 0.8 %).
  double absolute = 0, positive = 0;
  for (size_t e = 0; e < noisy.data.size(); ++e) {
    const double clipped = std::clamp(double(clean.data[e]), -10.0, 10.0);
    const double noise = noisy.data[e] - clipped;
    absolute += std::abs(noise);
    positive += noise > 0;
  }
  const double n = double(noisy.data.size());
  EXPECT_NEAR(absolute / n, 5.0, 0.15);
  EXPECT_NEAR(positive / n, 0.5, 0.02);
}

TEST(Masking, MixupWithNoiseIsDpsNoiseOnTheSameMixture) {
  // mixup + mask.noise: the mixture MixUp alone makes, then dp's clipping and noise: with k = 1
  // (one face, weight 1) it is exactly dp's sample, the same noise draws included.
  MaskOptions o = mixup(1);
  o.upsample = 1;
  o.noise = true;
  o.dp_epsilon = 4.0;
  o.dp_clip = 10.0;
  MaskOptions dp_options = o;
  dp_options.method = Method::kDp;
  dp_options.noise = false;
  const Masker noisy(o, kSize, ColorMode::kGrey), dp(dp_options, kSize, ColorMode::kGrey);
  EXPECT_EQ(noisy.default_action().noise_epsilon, 4.0);
  const std::vector<float> x = random_pixels(6, 1, 3);
  MaskedBatch a, b;
  noisy.apply(x.data(), keys(6), 2, noisy.default_action(), a);
  dp.apply(x.data(), keys(6), 2, dp.default_action(), b);
  EXPECT_EQ(a.data, b.data);
  // Without mask.noise, MixUp adds none; an action's own epsilon adds it to any method.
  o.noise = false;
  const Masker quiet(o, kSize, ColorMode::kGrey);
  EXPECT_EQ(quiet.default_action().noise_epsilon, 0.0);
  MixAction action = quiet.default_action();
  quiet.apply(x.data(), keys(6), 2, action, a);
  EXPECT_NE(a.data, b.data);
  action.noise_epsilon = 4.0;
  quiet.apply(x.data(), keys(6), 2, action, a);
  EXPECT_EQ(a.data, b.data);
}

// deployed_noise_epsilon is adaptive's evaluation noise; the fixed methods keep their own.
TEST(Masking, OnlyAdaptiveTakesADeployedNoise) {
  MaskOptions o;
  o.deployed_noise_epsilon = 16;
  o.method = Method::kAdaptive;
  EXPECT_EQ(Masker(o, kSize, ColorMode::kGrey).default_action().noise_epsilon, 16.0);
  o.method = Method::kMixup;
  EXPECT_EQ(Masker(o, kSize, ColorMode::kGrey).default_action().noise_epsilon, 0.0);
  o.method = Method::kDp;
  EXPECT_EQ(Masker(o, kSize, ColorMode::kGrey).default_action().noise_epsilon, o.dp_epsilon);
}

TEST(Masking, RejectsImpossibleOptions) {
  MaskOptions o = mixup(4);
  o.weight_cap = 0.2;  // 4 weights under 0.2 cannot sum to 1
  EXPECT_THROW(Masker(o, kSize, ColorMode::kGrey), ConfigError);
  o = mixup(2);
  o.upsample = 3;
  EXPECT_THROW(Masker(o, kSize, ColorMode::kGrey), ConfigError);
}

}  // namespace
}  // namespace hymask
