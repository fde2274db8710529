// Face-verification and identification metrics of the evaluation protocols
// (../shared/data/README.md): 10-fold verification accuracy with the threshold chosen on the other
// nine folds, ROC AUC, TAR at a fixed FAR; closed-set top-1 identification against a gallery.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace hymask {

struct VerificationResult {
  std::vector<double> fold_accuracy;
  double accuracy_mean = 0;
  double accuracy_std = 0;  // population std over folds
  double auc = 0;
  double far = 0.01;
  double tar_at_far = 0;
};

// scores: similarity of each pair (higher = more alike); same: ground truth; fold: 0..F-1.
VerificationResult verify_pairs(const std::vector<double>& scores, const std::vector<bool>& same,
                                const std::vector<int>& fold, double far = 0.01);

// The threshold that maximises accuracy on the given pairs (accept when score > threshold).
double best_threshold(const std::vector<double>& scores, const std::vector<bool>& same);

// Accuracy on the given pairs at their own best_threshold: in-sample, so it flatters a little,
// but equally for every model measured on the same pairs.
double best_threshold_accuracy(const std::vector<double>& scores, const std::vector<bool>& same);

// Verification pairs of a labelled set: every same-label pair, and as many different-label pairs
// (all of them if there are fewer), drawn without repeats from the stream of `seed`.
struct LabelledPairs {
  std::vector<std::pair<size_t, size_t>> pairs;  // indices into labels, first < second
  std::vector<bool> same;
};
LabelledPairs balanced_pairs(const std::vector<int>& labels, uint64_t seed);

// Area under the ROC curve (Mann-Whitney U, ties counted half).
double roc_auc(const std::vector<double>& scores, const std::vector<bool>& same);

// True-accept rate at the threshold where at most `far` of the different pairs are accepted.
double tar_at_far(const std::vector<double>& scores, const std::vector<bool>& same, double far);

}  // namespace hymask
