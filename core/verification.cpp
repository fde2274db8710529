#include "core/verification.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "core/error.h"
#include "core/random.h"

namespace hymask {

double best_threshold(const std::vector<double>& scores, const std::vector<bool>& same) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Threshold below everything: all accepted; correct = number of same pairs. Sweep upwards.
  long correct = 0;
  for (bool s : same) correct += s;
  long best = correct;
  double threshold = scores.empty() ? 0.0 : scores[order[0]] - 1.0;
  for (size_t i = 0; i < order.size(); ++i) {
    correct += same[order[i]] ? -1 : 1;  // pair i now rejected
    if (i + 1 < order.size() && scores[order[i + 1]] == scores[order[i]]) continue;
    if (correct > best) {
      best = correct;
      threshold =
          i + 1 < order.size() ? 0.5 * (scores[order[i]] + scores[order[i + 1]]) : scores[order[i]];
    }
  }
  return threshold;
}

double best_threshold_accuracy(const std::vector<double>& scores, const std::vector<bool>& same) {
  if (scores.empty()) return 0;
  const double threshold = best_threshold(scores, same);
  size_t correct = 0;
  for (size_t i = 0; i < scores.size(); ++i) correct += (scores[i] > threshold) == same[i];
  return double(correct) / scores.size();
}

LabelledPairs balanced_pairs(const std::vector<int>& labels, uint64_t seed) {
  LabelledPairs out;
  size_t different = 0;
  for (size_t i = 0; i < labels.size(); ++i)
    for (size_t j = i + 1; j < labels.size(); ++j) {
      if (labels[i] != labels[j]) {
        ++different;
        continue;
      }
      out.pairs.emplace_back(i, j);
      out.same.push_back(true);
    }
  const size_t wanted = std::min(out.pairs.size(), different);
  std::set<std::pair<size_t, size_t>> drawn;
  if (wanted == different) {  // all of them
    for (size_t i = 0; i < labels.size(); ++i)
      for (size_t j = i + 1; j < labels.size(); ++j)
        if (labels[i] != labels[j]) drawn.emplace(i, j);
  } else {
    Rng rng = Rng::stream(seed, 0, 0, Purpose::kValidationPairs);
    while (drawn.size() < wanted) {
      size_t i = rng.below(labels.size()), j = rng.below(labels.size());
      if (labels[i] == labels[j]) continue;
      drawn.emplace(std::min(i, j), std::max(i, j));
    }
  }
  for (const auto& pair : drawn) {
    out.pairs.push_back(pair);
    out.same.push_back(false);
  }
  return out;
}

double roc_auc(const std::vector<double>& scores, const std::vector<bool>& same) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;
  size_t positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mid_rank = 0.5 * (i + 1 + j);  // average 1-based rank of the tie group
    for (size_t t = i; t < j; ++t)
      if (same[order[t]]) {
        rank_sum += mid_rank;
        ++positives;
      }
    i = j;
  }
  const size_t negatives = scores.size() - positives;
  if (positives == 0 || negatives == 0) return 0.5;
  return (rank_sum - positives * (positives + 1) / 2.0) / (double(positives) * negatives);
}

double tar_at_far(const std::vector<double>& scores, const std::vector<bool>& same, double far) {
  std::vector<double> different, genuine;
  for (size_t i = 0; i < scores.size(); ++i) (same[i] ? genuine : different).push_back(scores[i]);
  if (genuine.empty() || different.empty()) return 0;
  std::sort(different.begin(), different.end(), std::greater<double>());
  // Accept when score > threshold; at most floor(far * n) different pairs may pass.
  const size_t allowed = size_t(std::floor(far * different.size()));
  const double threshold = different[std::min(allowed, different.size() - 1)];
  size_t accepted = 0;
  for (double s : genuine) accepted += s > threshold;
  return double(accepted) / genuine.size();
}

VerificationResult verify_pairs(const std::vector<double>& scores, const std::vector<bool>& same,
                                const std::vector<int>& fold, double far) {
  HYMASK_CHECK(scores.size() == same.size() && same.size() == fold.size());
  VerificationResult result;
  result.far = far;
  const int folds = fold.empty() ? 0 : *std::max_element(fold.begin(), fold.end()) + 1;
  for (int f = 0; f < folds; ++f) {
    std::vector<double> train_scores;
    std::vector<bool> train_same;
    for (size_t i = 0; i < scores.size(); ++i)
      if (fold[i] != f) {
        train_scores.push_back(scores[i]);
        train_same.push_back(same[i]);
      }
    const double threshold = best_threshold(train_scores, train_same);
    size_t correct = 0, count = 0;
    for (size_t i = 0; i < scores.size(); ++i)
      if (fold[i] == f) {
        correct += (scores[i] > threshold) == same[i];
        ++count;
      }
    if (count > 0) result.fold_accuracy.push_back(double(correct) / count);
  }
  const double n = double(result.fold_accuracy.size());
  for (double a : result.fold_accuracy) result.accuracy_mean += a / n;
  for (double a : result.fold_accuracy)
    result.accuracy_std += (a - result.accuracy_mean) * (a - result.accuracy_mean) / n;
  result.accuracy_std = std::sqrt(result.accuracy_std);
  result.auc = roc_auc(scores, same);
  result.tar_at_far = tar_at_far(scores, same, far);
  return result;
}

}  // namespace hymask
