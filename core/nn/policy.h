// The masking policy ("strategy network", DESIGN.md): pi_theta(a | s) over a factorised discrete
// action space, and its REINFORCE learner.
//
// Action a = (k, weight scheme, drop level, noise), one categorical head each:
//   k in k_min..k_max, scheme in {dirichlet, gaussian}, drop level in base..base + drop_levels - 1,
//   noise level in 0..noise_levels - 1 (0: none; the top level is dp's epsilon, each level below
//   it doubles epsilon, i.e. halves the noise); with noise_control the level is not a head but
//   set by the constraint's controller beside the multiplier.
// State s (kStateSize values): training progress, recent FR-loss mean, spread and trend, the last
// loss, and a constant 1.
// Reward, from what the worker measured on the batch the action made (PolicyRecord):
//   loss         the batch's FR loss (the paper: the policy maximises it, the FR network
//                minimises it);
//   teacher      the FR loss less an EMA teacher's loss on the same batch: hard for the model,
//                still recognisable to its slower copy (after TeachAugment, CVPR 2022);
//   constrained  privacy first: minus the in-loop linear attacker's similarity of each sample to
//                its main constituent, minus lambda x the FR loss; lambda is a Lagrange
//                multiplier on a slower timescale that rises while validation accuracy falls
//                more than the budget below a reference run's, and relaxes when it recovers
//                (after RCPO, ICLR 2019).
// Finish: the last `finish` share of the steps take the mildest action, chosen by no one and
// uncapped; the model is shaped most by its last steps, while a run's leak is its actions'
// share-weighted mean. The weight cap (mask.weight_cap) applies to every chosen action.
// Update: REINFORCE with a moving-average baseline, advantages scaled by a moving average of their
// magnitude, and an entropy bonus; Adam.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/config.h"
#include "core/masking.h"

namespace hymask::nn {

constexpr int kStateSize = 6;
constexpr int kHeads = 4;

enum class RewardDesign { kLoss, kTeacher, kConstrained };
RewardDesign parse_reward_design(const std::string& name);  // loss | teacher | constrained

struct PolicyOptions {
  RewardDesign reward = RewardDesign::kTeacher;
  int k_min = 2;
  int k_max = 6;
  int base_drop_level = 0;
  int drop_levels = 1;
  int noise_levels = 1;        // 1: no noise head (the network then has no parameters for it)
  bool noise_control = false;  // the constraint's controller sets the level, not a policy head
  double dp_epsilon = 8.0;     // the top noise level's epsilon (mask.dp_epsilon)
  double weight_cap = 1.0;     // every chosen action's mixing weight cap (mask.weight_cap)
  int hidden = 32;
  double lr = 0.01;
  double entropy = 0.01;
  double baseline_momentum = 0.1;
  double max_accuracy_drop = 3.0;  // points (constrained)
  double lambda_lr = 0.005;        // integral gain: per point beyond the budget, per measurement
  double lambda_gain = 0.0;        // proportional gain: per point beyond the budget
  double lambda_init = 0.0;        // the multiplier (and its integral part) at the start
  double start_mildest = 0.0;      // each head's starting probability of category 0; 0: uniform
  double finish = 0.25;            // share of the last steps at the mildest action
};

// The policy settings of a config (policy.* and the base drop level).
PolicyOptions policy_options(const Config& config);

// Chosen category per head: {k - k_min, scheme, drop level - base, noise level}.
using ActionIndex = std::array<int, kHeads>;

// What a worker measured on the batch an action made; the reward is composed from it where the
// policy is trained (Policy::reward), so that the coordinator can hold the multiplier.
struct PolicyRecord {
  uint64_t version = 0;  // policy version that chose the action
  std::array<float, kStateSize> state{};
  ActionIndex action{};
  double loss = 0;          // the batch's FR loss
  double teacher_loss = 0;  // the EMA teacher's loss on the same batch (reward teacher)
  double leak = 0;          // mean cosine of each sample to its main constituent, both masked
  // Points of validation accuracy below the reference, when measured at this step; NaN otherwise.
  double shortfall = std::numeric_limits<double>::quiet_NaN();
};

class PolicyNetImpl : public torch::nn::Module {
 public:
  PolicyNetImpl(const PolicyOptions& options);
  // states: B x kStateSize -> one B x categories logit tensor per head.
  std::array<torch::Tensor, kHeads> forward(const torch::Tensor& states);
  std::array<int, kHeads> categories;
  torch::Dtype trunk_dtype() const { return trunk->weight.scalar_type(); }

 private:
  torch::nn::Linear trunk{nullptr};
  // A head with one category has no module: its logits are a constant zero column.
  std::array<torch::nn::Linear, kHeads> heads{nullptr, nullptr, nullptr, nullptr};
};
TORCH_MODULE(PolicyNet);

// Running loss statistics that make up the state.
class LossTracker {
 public:
  void observe(double loss);
  std::array<float, kStateSize> state(double progress) const;
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  double mean_ = 0, square_ = 0, slow_ = 0, last_ = 0;
  bool started_ = false;
};

class Policy {
 public:
  Policy(const PolicyOptions& options, uint64_t seed);

  // Samples an action for `step`: deterministic given the parameters, the seed and the step.
  ActionIndex sample(const std::array<float, kStateSize>& state, uint64_t step) const;
  // Whether training at `progress` (0..1) is in the finish, where every step takes mildest()
  // and nothing is learnt from it.
  bool finishing(double progress) const { return progress >= 1 - options_.finish; }
  // k_min, Dirichlet weights, the base drop level, no noise, no weight cap: the finish is there
  // to restore accuracy, and a capped k = 2 does not (docs/RESULTS.md).
  MixAction mildest() const {
    return {options_.k_min, WeightScheme::kDirichlet, options_.base_drop_level, 0.0, 1.0};
  }
  MixAction to_mix_action(const ActionIndex& action) const;
  // The noise epsilon this policy now emits most: the controlled level, or the noise head's most
  // probable one (0: none). Validation measures at it.
  double preferred_noise_epsilon(const std::array<float, kStateSize>& state) const;
  // Per-head probabilities for a state (for progress output and the status console).
  std::array<std::vector<float>, kHeads> probabilities(
      const std::array<float, kStateSize>& state) const;

  // Whether every measurement of a record is a finite number (reports from the network).
  static bool finite(const PolicyRecord& record);

  // log pi(a | s) for a batch: states B x kStateSize, actions B x kHeads (int64).
  torch::Tensor log_prob(const torch::Tensor& states, const torch::Tensor& actions);

  // The reward of a record under this policy's design and current multiplier.
  double reward(const PolicyRecord& record) const;
  // One REINFORCE step on these records (first the multiplier's step from the shortfalls they
  // carry); returns the policy loss. `weights` (one per record,
  // default all equal) set each record's share of the gradient: the coordinator gives every
  // worker the same total, so that no worker moves the policy more than its share.
  // `reward_clip` > 0 clips the rewards to median +- reward_clip x MAD of the batch (the
  // coordinator's defence against a worker that reports absurd values).
  double update(const std::vector<PolicyRecord>& records, const std::vector<double>& weights = {},
                double reward_clip = 0);

  // The network's parameters as one vector (what a policy update carries), and back; with
  // noise_control, the controlled noise level follows them as one more value.
  std::vector<float> parameters() const;
  void set_parameters(const std::vector<float>& values, uint64_t version);

  uint64_t version() const { return version_; }
  double baseline() const { return baseline_; }
  double multiplier() const { return lambda_; }
  const PolicyOptions& options() const { return options_; }
  PolicyNet& net() { return net_; }

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  // The epsilon of a noise level (0: no noise).
  double noise_epsilon(int level) const;

  PolicyOptions options_;
  uint64_t seed_;
  PolicyNet net_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  uint64_t version_ = 0;
  double baseline_ = 0;
  double scale_ = 1;
  bool has_baseline_ = false;
  double lambda_ = 0;    // the constraint's Lagrange multiplier (constrained)
  double integral_ = 0;  // its integral part
  int noise_level_ = 0;  // noise_control: the level the controller set
};

}  // namespace hymask::nn
