#include "core/verification.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/random.h"

namespace hymask {
namespace {

TEST(Verification, PerfectSeparationScoresOne) {
  std::vector<double> scores;
  std::vector<bool> same;
  std::vector<int> folds;
  for (int f = 0; f < 10; ++f)
    for (int i = 0; i < 20; ++i) {
      same.push_back(i % 2 == 0);
      scores.push_back(i % 2 == 0 ? 0.8 + 0.001 * i : 0.1 - 0.001 * i);
      folds.push_back(f);
    }
  const VerificationResult r = verify_pairs(scores, same, folds);
  EXPECT_DOUBLE_EQ(r.accuracy_mean, 1.0);
  EXPECT_NEAR(r.accuracy_std, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.auc, 1.0);
  EXPECT_DOUBLE_EQ(r.tar_at_far, 1.0);
  EXPECT_EQ(r.fold_accuracy.size(), 10u);
}

TEST(Verification, AucMatchesThePairCountingDefinitionWithTies) {
  Rng rng(4);
  std::vector<double> scores;
  std::vector<bool> same;
  for (int i = 0; i < 300; ++i) {
    same.push_back(rng.uniform() < 0.4);
    scores.push_back(std::round((rng.normal() + (same.back() ? 1.0 : 0.0)) * 4) / 4);  // ties
  }
  double wins = 0, pairs = 0;
  for (size_t i = 0; i < scores.size(); ++i)
    for (size_t j = 0; j < scores.size(); ++j)
      if (same[i] && !same[j]) {
        wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
        pairs += 1;
      }
  EXPECT_NEAR(roc_auc(scores, same), wins / pairs, 1e-12);
}

TEST(Verification, BestThresholdMaximisesAccuracyAndTarRespectsFar) {
  const std::vector<double> scores = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2};
  const std::vector<bool> same = {true, true, false, true, false, false, true, false};
  const double t = best_threshold(scores, same);
  EXPECT_GT(t, 0.5);  // accepting 0.9, 0.8, 0.7, 0.6 gives 6 of 8 right: the best
  EXPECT_LT(t, 0.6);
  // 4 different pairs, FAR 0.25 allows one: threshold = 0.5 (2nd largest different score),
  // genuine scores above it: 0.9, 0.8, 0.6 -> 3 of 4.
  EXPECT_DOUBLE_EQ(tar_at_far(scores, same, 0.25), 0.75);
  EXPECT_DOUBLE_EQ(tar_at_far(scores, same, 0.0), 0.5);  // none allowed: above 0.7
}

}  // namespace
}  // namespace hymask
