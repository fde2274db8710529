// The masking policy ("strategy network", DESIGN.md): pi_theta(a | s) over a factorised discrete
// action space, and its REINFORCE learner.
//
// Action a = (k, weight scheme, drop level), one categorical head each:
//   k in 1..k_max, scheme in {dirichlet, gaussian}, drop level in base..base + drop_levels - 1.
// State s (kStateSize values): training progress, recent FR-loss mean, spread and trend, the last
// loss, and a constant 1.
// Reward: the FR loss of the mini-batch the action was applied to (the policy maximises it, the FR
// network minimises it), optionally less a utility-guard penalty.
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
#include <vector>

#include "core/config.h"
#include "core/masking.h"

namespace hymask::nn {

constexpr int kStateSize = 6;
constexpr int kHeads = 3;

struct PolicyOptions {
  int k_max = 6;
  int base_drop_level = 0;
  int drop_levels = 4;
  int hidden = 32;
  double lr = 0.01;
  double entropy = 0.01;
  double baseline_momentum = 0.1;
};

// The policy settings of a config (policy.* and the base drop level).
PolicyOptions policy_options(const Config& config);

// Chosen category per head: {k - 1, scheme, drop level - base}.
using ActionIndex = std::array<int, kHeads>;

struct PolicyRecord {
  uint64_t version = 0;  // policy version that chose the action
  std::array<float, kStateSize> state{};
  ActionIndex action{};
  double reward = 0;
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
  std::array<torch::nn::Linear, kHeads> heads{nullptr, nullptr, nullptr};
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
  MixAction to_mix_action(const ActionIndex& action) const;
  // Per-head probabilities for a state (for progress output and the status console).
  std::array<std::vector<float>, kHeads> probabilities(
      const std::array<float, kStateSize>& state) const;

  // log pi(a | s) for a batch: states B x kStateSize, actions B x kHeads (int64).
  torch::Tensor log_prob(const torch::Tensor& states, const torch::Tensor& actions);

  // One REINFORCE step on these records; returns the policy loss. `weights` (one per record,
  // default all equal) set each record's share of the gradient: the coordinator gives every
  // worker the same total, so that no worker moves the policy more than its share.
  double update(const std::vector<PolicyRecord>& records, const std::vector<double>& weights = {});

  // The network's parameters as one vector (what a policy update carries), and back.
  std::vector<float> parameters() const;
  void set_parameters(const std::vector<float>& values, uint64_t version);

  uint64_t version() const { return version_; }
  double baseline() const { return baseline_; }
  const PolicyOptions& options() const { return options_; }
  PolicyNet& net() { return net_; }

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  PolicyOptions options_;
  uint64_t seed_;
  PolicyNet net_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  uint64_t version_ = 0;
  double baseline_ = 0;
  double scale_ = 1;
  bool has_baseline_ = false;
};

}  // namespace hymask::nn
