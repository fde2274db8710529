#include "core/block_dct.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/random.h"

namespace hymask {
namespace {

std::vector<double> random_image(int size, int planes, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> x(size_t(size) * size * planes);
  for (double& v : x) v = rng.uniform(-128.0, 128.0);
  return x;
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

// ||a - b|| / ||b||
double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return norm(d) / norm(b);
}

std::vector<int> all_channels() {
  return kept_channels_for_drop_level(-1);
}

TEST(KeptChannels, DropExactlyTheLowFrequencies) {
  EXPECT_EQ(kept_channels_for_drop_level(-1).size(), 64u);
  const std::vector<int> no_dc = kept_channels_for_drop_level(0);
  EXPECT_EQ(no_dc.size(), 63u);
  EXPECT_EQ(no_dc.front(), 1);
  // t = 3 drops the 10 channels with v + h <= 3.
  const std::vector<int> kept = kept_channels_for_drop_level(3);
  EXPECT_EQ(kept.size(), 54u);
  for (int c = 0; c < 64; ++c) {
    const bool is_kept = std::find(kept.begin(), kept.end(), c) != kept.end();
    EXPECT_EQ(is_kept, c / 8 + c % 8 > 3) << "channel " << c;
  }
  EXPECT_THROW(kept_channels_for_drop_level(14), ConfigError);
}

TEST(BlockDctReference, DcOfAConstantBlockIsEightTimesItsValue) {
  const int size = 16;
  std::vector<double> x(size * size, 5.0), out(64 * 4 * 4);
  block_dct_reference(x.data(), out.data(), size, 2, 1);
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(out[i], 40.0, 1e-12);  // channel 0
  for (size_t i = 16; i < out.size(); ++i) EXPECT_NEAR(out[i], 0.0, 1e-12);
}

TEST(BlockDctReference, UpsamplesARampBilinearly) {
  // x[y][j] = j. Bilinear upsampling by 2 (align_corners = false) of a ramp is the ramp at the
  // source coordinates (p + 0.5) / 2 - 0.5, clamped at 0 on the left edge: the first block of
  // upsampled columns is 0, 0.25, 0.75, 1.25, ..., 3.25 and its DC is 8 * their mean.
  const int size = 16;
  std::vector<double> x(size * size), out(64 * 4 * 4);
  for (int y = 0; y < size; ++y)
    for (int j = 0; j < size; ++j) x[y * size + j] = j;
  block_dct_reference(x.data(), out.data(), size, 2, 1);
  const double first_block_mean = (0 + 0.25 + 0.75 + 1.25 + 1.75 + 2.25 + 2.75 + 3.25) / 8;
  EXPECT_NEAR(out[0], 8 * first_block_mean, 1e-12);
  // The next block is away from the edge: samples 3.75, 4.25, ..., 7.25, mean 5.5.
  EXPECT_NEAR(out[1], 8 * 5.5, 1e-12);
}

class FusedTransform : public ::testing::TestWithParam<int> {};

TEST_P(FusedTransform, MatchesTheNaiveReference) {
  const int upsample = GetParam();
  for (int size : {16, 40}) {
    const int planes = 3, n = size * upsample / 8;
    const std::vector<double> x = random_image(size, planes, 7 + size);
    std::vector<double> ref(size_t(planes) * 64 * n * n);
    block_dct_reference(x.data(), ref.data(), size, upsample, planes);

    BlockDct dct(size, upsample, all_channels());
    ASSERT_EQ(dct.out_size(), n);
    std::vector<float> xf(x.begin(), x.end()), outf(ref.size());
    dct.forward(xf.data(), outf.data(), planes);
    const std::vector<double> fused(outf.begin(), outf.end());
    EXPECT_LT(relative_error(fused, ref), 1e-5) << "u=" << upsample << " S=" << size;
    double worst = 0, scale = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      worst = std::max(worst, std::abs(fused[i] - ref[i]));
      scale = std::max(scale, std::abs(ref[i]));
    }
    EXPECT_LT(worst / scale, 1e-5);

    std::vector<double> outd(ref.size());
    dct.forward(x.data(), outd.data(), planes);
    EXPECT_LT(relative_error(outd, ref), 1e-12);
  }
}

// Outputs of 4 MB and more are written with non-temporal stores when aligned (64 x 64 at u = 8,
// 4 planes: 4 MB); the aligned (streamed) and misaligned (plain) paths both match the reference.
TEST(FusedTransform, LargeOutputsStreamedOrNotMatchTheReference) {
  const int size = 64, upsample = 8, planes = 4, n = size * upsample / 8;
  const std::vector<double> x = random_image(size, planes, 3);
  std::vector<double> ref(size_t(planes) * 64 * n * n);
  block_dct_reference(x.data(), ref.data(), size, upsample, planes);
  const BlockDct dct(size, upsample, all_channels());
  const std::vector<float> xf(x.begin(), x.end());
  std::vector<float> out(ref.size() + 4);
  float* aligned = out.data() + (16 - reinterpret_cast<uintptr_t>(out.data()) % 16) % 16 / 4;
  for (float* dst : {aligned, aligned + 1}) {
    std::fill(out.begin(), out.end(), -1.0f);
    dct.forward(xf.data(), dst, planes);
    const std::vector<double> got(dst, dst + ref.size());
    EXPECT_LT(relative_error(got, ref), 1e-5) << "offset " << (dst - aligned);
  }
}

TEST_P(FusedTransform, ComputesOnlyTheKeptChannelsInOrder) {
  const int upsample = GetParam(), size = 24, n = size * upsample / 8;
  const std::vector<double> x = random_image(size, 2, 3);
  std::vector<double> ref(size_t(2) * 64 * n * n);
  block_dct_reference(x.data(), ref.data(), size, upsample, 2);
  const std::vector<int> kept = {63, 9, 10, 1};  // any order, any subset
  BlockDct dct(size, upsample, kept);
  std::vector<double> out(dct.plane_out_size() * 2);
  dct.forward(x.data(), out.data(), 2);
  for (int p = 0; p < 2; ++p)
    for (size_t ci = 0; ci < kept.size(); ++ci)
      for (int i = 0; i < n * n; ++i)
        EXPECT_NEAR(out[(p * kept.size() + ci) * n * n + i], ref[(p * 64 + kept[ci]) * n * n + i],
                    1e-9);
}

TEST_P(FusedTransform, AdjointIsTheTranspose) {
  // <A x, y> == <x, A^T y> for random x, y.
  const int upsample = GetParam(), size = 24;
  BlockDct dct(size, upsample, kept_channels_for_drop_level(2));
  const std::vector<double> x = random_image(size, 1, 11);
  std::vector<double> y(dct.plane_out_size()), ax(y.size()), aty(x.size());
  Rng rng(5);
  for (double& v : y) v = rng.normal();
  dct.forward(x.data(), ax.data(), 1);
  dct.adjoint(y.data(), aty.data(), 1);
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < y.size(); ++i) lhs += ax[i] * y[i];
  for (size_t i = 0; i < x.size(); ++i) rhs += x[i] * aty[i];
  EXPECT_NEAR(lhs, rhs, 1e-9 * std::abs(lhs));
}

TEST_P(FusedTransform, InverseRestoresTheInputWhenNothingIsDropped) {
  const int upsample = GetParam(), size = 32;
  BlockDct dct(size, upsample, all_channels());
  const std::vector<double> x = random_image(size, 2, 13);
  std::vector<double> coeffs(dct.plane_out_size() * 2), back(x.size());
  dct.forward(x.data(), coeffs.data(), 2);
  dct.inverse(coeffs.data(), back.data(), 2);
  EXPECT_LT(relative_error(back, x), 1e-9);
}

INSTANTIATE_TEST_SUITE_P(AllUpsamplings, FusedTransform, ::testing::Values(1, 2, 4, 8));

TEST(LeastSquaresAttack, RecoversARandomImageUpToItsMeanAtU2T3) {
  // The privacy warning of DESIGN.md: u = 2, t = 3 loses only the global mean.
  const int size = 32;
  BlockDct dct(size, 2, kept_channels_for_drop_level(3));
  std::vector<double> x = random_image(size, 1, 17);
  std::vector<double> coeffs(dct.plane_out_size()), recovered(x.size());
  dct.forward(x.data(), coeffs.data(), 1);
  const int iterations = least_squares_invert(dct, coeffs.data(), recovered.data(), 1);
  double mean = 0;
  for (double v : x) mean += v / x.size();
  for (double& v : x) v -= mean;
  EXPECT_LT(relative_error(recovered, x), 1e-3) << iterations << " iterations";
}

TEST(LeastSquaresAttack, CannotRecoverDroppedChannelsWithoutUpsampling) {
  // u = 1 is orthonormal: the best the attacker gets is the zero-filled inverse.
  const int size = 32;
  BlockDct dct(size, 1, kept_channels_for_drop_level(3));
  std::vector<double> x = random_image(size, 1, 19);
  std::vector<double> coeffs(dct.plane_out_size()), recovered(x.size()), zero_filled(x.size());
  dct.forward(x.data(), coeffs.data(), 1);
  least_squares_invert(dct, coeffs.data(), recovered.data(), 1);
  dct.inverse(coeffs.data(), zero_filled.data(), 1);
  EXPECT_LT(relative_error(recovered, zero_filled), 1e-9);
  EXPECT_GT(relative_error(recovered, x), 0.1);
}

TEST(BlockDct, RejectsBadGeometry) {
  EXPECT_THROW(BlockDct(112, 3, all_channels()), ConfigError);
  EXPECT_THROW(BlockDct(12, 1, all_channels()), ConfigError);
  EXPECT_THROW(BlockDct(16, 1, {}), ConfigError);
}

}  // namespace
}  // namespace hymask
