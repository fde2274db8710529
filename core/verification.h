// Face-verification and identification metrics of the evaluation protocols
// (../shared/data/README.md): 10-fold verification accuracy with the threshold chosen on the other
// nine folds, ROC AUC, TAR at a fixed FAR; closed-set top-1 identification against a gallery.
#pragma once

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

// Area under the ROC curve (Mann-Whitney U, ties counted half).
double roc_auc(const std::vector<double>& scores, const std::vector<bool>& same);

// True-accept rate at the threshold where at most `far` of the different pairs are accepted.
double tar_at_far(const std::vector<double>& scores, const std::vector<bool>& same, double far);

}  // namespace hymask
