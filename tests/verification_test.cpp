#include "core/verification.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/random.h"
#include "core/verification_bin.h"

namespace hymask {
namespace {

VerificationBin parse(const std::string& pickle) {
  return parse_verification_bin(reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size(),
                                "test.bin");
}

std::string error_of(const std::string& pickle) {
  try {
    parse(pickle);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

// Pickle bytes from a literal that holds NULs (split where a hex escape meets a hex digit).
template <size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

// What Python 2 writes for pickle.dump((["img", "imag"], [True]), f, 2): str as SHORT_BINSTRING
// and BINSTRING, lists filled by APPENDS/APPEND, the pair as TUPLE2, memo entries throughout.
const std::string kPython2 = bytes(
    "\x80\x02]q\x00(U\x03imgq\x01T\x04\x00\x00\x00imagq\x02"
    "e]q\x03\x88"
    "a\x86q\x04.");

TEST(VerificationBin, ReadsPython2Pickles) {
  const VerificationBin bin = parse(kPython2);
  ASSERT_EQ(bin.images.size(), 2u);
  EXPECT_EQ(std::string(bin.images[0].begin(), bin.images[0].end()), "img");
  EXPECT_EQ(std::string(bin.images[1].begin(), bin.images[1].end()), "imag");
  EXPECT_EQ(bin.same, std::vector<bool>{true});
}

TEST(VerificationBin, RefusesDamagedAndForeignPickles) {
  EXPECT_NE(error_of("hello").find("not a pickle"), std::string::npos);
  EXPECT_NE(error_of(kPython2.substr(0, 20)).find("truncated"), std::string::npos);
  // A set (EMPTY_SET, protocol 4) is outside the subset: the opcode and its offset are named.
  EXPECT_NE(error_of(bytes("\x80\x04\x8f.")).find("byte 2: pickle opcode 0x8f"), std::string::npos);
  // A call of anything but NumPy's array constructors is refused, never made.
  const std::string call = bytes(
      "\x80\x02"
      "cos\nsystem\nX\x02\x00\x00\x00ls\x85R.");
  EXPECT_NE(error_of(call).find("'os system'"), std::string::npos);
  // Three images for one pair.
  const std::string three = bytes(
      "\x80\x02](C\x01"
      "aC\x01"
      "bC\x01"
      "ce]\x88"
      "a\x86.");
  EXPECT_NE(error_of(three).find("3 images for 1 pairs"), std::string::npos);
  // A list that holds itself (through the memo) is an error, not a hang or a leak.
  const std::string loop = bytes(
      "\x80\x02]q\x00h\x00"
      "ah\x00\x86.");
  EXPECT_NE(error_of(loop).find("1 images for 1 pairs"), std::string::npos);
  // A NumPy array whose data is the array itself: an error, not endless recursion.
  const std::string own_data = bytes(
      "\x80\x02"
      "cnumpy.core.multiarray\n_reconstruct\n)Rq\x00(K\x01)cnumpy\ndtype\n"
      "X\x02\x00\x00\x00u1\x85R\x89h\x00tbh\x00\x86.");
  EXPECT_NE(error_of(own_data).find("nested deeper"), std::string::npos);
}

TEST(VerificationBin, ConsecutiveFoldsAreScikitLearnsKFold) {
  const std::vector<int> folds = consecutive_folds(25);
  std::vector<int> sizes(10);
  for (size_t i = 0; i < folds.size(); ++i) {
    if (i > 0) {
      EXPECT_GE(folds[i], folds[i - 1]);
    }
    ++sizes[size_t(folds[i])];
  }
  EXPECT_EQ(sizes, (std::vector<int>{3, 3, 3, 3, 3, 2, 2, 2, 2, 2}));
}

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

TEST(Verification, BestThresholdAccuracyIsTheBestOfEveryThreshold) {
  // Naive reference: try a threshold below every score and at every score.
  Rng rng(5);
  std::vector<double> scores;
  std::vector<bool> same;
  for (int i = 0; i < 300; ++i) {
    same.push_back(rng.uniform() < 0.5);
    scores.push_back(std::round(10 * (rng.normal() + (same.back() ? 1.0 : 0.0))) / 10);  // ties
  }
  double naive = 0;
  std::vector<double> thresholds = scores;
  thresholds.push_back(-1e9);
  for (double t : thresholds) {
    int correct = 0;
    for (size_t i = 0; i < scores.size(); ++i) correct += (scores[i] > t) == same[i];
    naive = std::max(naive, double(correct) / scores.size());
  }
  EXPECT_NEAR(best_threshold_accuracy(scores, same), naive, 1e-12);
  EXPECT_GT(naive, 0.6);  // the scores do separate
}

TEST(Verification, BalancedPairsHoldEverySamePairAndAsManyDistinctOthers) {
  const std::vector<int> labels = {0, 1, 0, 2, 1, 0, 3, 3, 4, 5, 6, 7};
  const LabelledPairs pairs = balanced_pairs(labels, 9);
  std::set<std::pair<size_t, size_t>> same_pairs, other_pairs;
  for (size_t i = 0; i < pairs.pairs.size(); ++i) {
    const auto [a, b] = pairs.pairs[i];
    ASSERT_LT(a, b);
    EXPECT_EQ(pairs.same[i], labels[a] == labels[b]);
    (pairs.same[i] ? same_pairs : other_pairs).insert(pairs.pairs[i]);
  }
  EXPECT_EQ(same_pairs.size(), 5u);   // 3 of label 0, one each of 1 and 3
  EXPECT_EQ(other_pairs.size(), 5u);  // as many, none repeated
  EXPECT_EQ(pairs.pairs.size(), 10u);
  // The same seed draws the same pairs; another seed others.
  EXPECT_EQ(balanced_pairs(labels, 9).pairs, pairs.pairs);
  EXPECT_NE(balanced_pairs(labels, 10).pairs, pairs.pairs);
  // Fewer different pairs than same ones: all of them.
  const LabelledPairs crowded = balanced_pairs({0, 0, 0, 0, 1}, 9);
  EXPECT_EQ(std::count(crowded.same.begin(), crowded.same.end(), false), 4);
}

}  // namespace
}  // namespace hymask
