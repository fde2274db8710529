#include "core/nn/policy.h"

#include <torch/nn/functional/activation.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/random.h"

namespace hymask::nn {

RewardDesign parse_reward_design(const std::string& name) {
  if (name == "loss") return RewardDesign::kLoss;
  if (name == "teacher") return RewardDesign::kTeacher;
  if (name == "constrained") return RewardDesign::kConstrained;
  throw ConfigError("unknown policy.reward '" + name + "' (loss, teacher or constrained)");
}

PolicyOptions policy_options(const Config& c) {
  PolicyOptions p;
  p.reward = parse_reward_design(c.policy.reward);
  p.k_min = c.policy.k_min;
  p.k_max = c.policy.k_max;
  p.base_drop_level = c.mask.drop_level;
  p.drop_levels = c.policy.drop_levels;
  p.noise_levels = c.policy.noise_levels;
  p.noise_control = c.policy.noise_control;
  p.dp_epsilon = c.mask.dp_epsilon;
  p.weight_cap = c.mask.weight_cap;
  p.hidden = c.policy.hidden;
  p.lr = c.policy.lr;
  p.entropy = c.policy.entropy;
  p.baseline_momentum = c.policy.baseline_momentum;
  p.max_accuracy_drop = c.policy.max_accuracy_drop;
  p.lambda_lr = c.policy.lambda_lr;
  p.lambda_gain = c.policy.lambda_gain;
  p.lambda_init = c.policy.lambda_init;
  p.start_mildest = c.policy.start_mildest;
  p.finish = c.policy.finish;
  return p;
}

PolicyNetImpl::PolicyNetImpl(const PolicyOptions& o)
    : categories{o.k_max - o.k_min + 1, 2, o.drop_levels, o.noise_control ? 1 : o.noise_levels} {
  if (o.k_max < 1 || o.k_max > 16) throw ConfigError("policy.k_max must be in 1..16");
  if (o.k_min < 1 || o.k_min > o.k_max) throw ConfigError("policy.k_min must be in 1..k_max");
  if (o.drop_levels < 1 || o.base_drop_level + o.drop_levels - 1 > 13)
    throw ConfigError(
        "policy.drop_levels must be >= 1, and mask.drop_level + policy.drop_levels "
        "- 1 at most 13");
  if (o.noise_levels < 1 || o.noise_levels > 8)
    throw ConfigError("policy.noise_levels must be in 1..8");
  trunk = register_module("trunk", torch::nn::Linear(kStateSize, o.hidden));
  for (int h = 0; h < kHeads; ++h) {
    if (h == 3 && categories[h] == 1) continue;  // no noise head: the old networks, unchanged
    heads[h] =
        register_module("head" + std::to_string(h), torch::nn::Linear(o.hidden, categories[h]));
    // Zero output weights: the start does not depend on the state. Uniform biases try every
    // action early on; a mild start puts start_mildest on category 0 (the mildest choice).
    torch::NoGradGuard no_grad;
    heads[h]->weight.zero_();
    heads[h]->bias.zero_();
    const int others = categories[h] - 1;
    if (o.start_mildest > 0 && others > 0)
      heads[h]->bias[0] = std::log(o.start_mildest * others / (1 - o.start_mildest));
  }
}

std::array<torch::Tensor, kHeads> PolicyNetImpl::forward(const torch::Tensor& states) {
  const torch::Tensor hidden = torch::tanh(trunk(states));
  std::array<torch::Tensor, kHeads> logits;
  for (int h = 0; h < kHeads; ++h)
    logits[h] = heads[h] ? heads[h](hidden) : torch::zeros({states.size(0), 1}, hidden.options());
  return logits;
}

void LossTracker::observe(double loss) {
  if (!started_) {
    mean_ = slow_ = last_ = loss;
    square_ = loss * loss;
    started_ = true;
  }
  mean_ += 0.1 * (loss - mean_);
  square_ += 0.1 * (loss * loss - square_);
  slow_ += 0.01 * (loss - slow_);
  last_ = loss;
}

std::array<float, kStateSize> LossTracker::state(double progress) const {
  const double spread = std::sqrt(std::max(0.0, square_ - mean_ * mean_));
  // Losses are O(10) for margin heads: scale to O(1) for the network.
  return {float(progress),    float(mean_ / 10),
          float(spread / 10), float((mean_ - slow_) / 10),
          float(last_ / 10),  1.0f};
}

void LossTracker::save(torch::serialize::OutputArchive& archive) const {
  archive.write("tracker", torch::tensor({mean_, square_, slow_, last_, started_ ? 1.0 : 0.0},
                                         torch::kFloat64));
}

void LossTracker::load(torch::serialize::InputArchive& archive) {
  torch::Tensor t;
  archive.read("tracker", t);
  auto a = t.accessor<double, 1>();
  mean_ = a[0], square_ = a[1], slow_ = a[2], last_ = a[3], started_ = a[4] != 0;
}

Policy::Policy(const PolicyOptions& options, uint64_t seed)
    : options_(options),
      seed_(seed),
      net_(options),
      lambda_(options.lambda_init),
      integral_(options.lambda_init) {
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(),
                                                    torch::optim::AdamOptions(options.lr));
}

std::array<std::vector<float>, kHeads> Policy::probabilities(
    const std::array<float, kStateSize>& state) const {
  torch::NoGradGuard no_grad;
  const torch::Tensor s =
      torch::from_blob(const_cast<float*>(state.data()), {1, kStateSize}, torch::kFloat32)
          .to(net_->trunk_dtype());
  const auto logits = const_cast<PolicyNetImpl&>(*net_).forward(s);
  std::array<std::vector<float>, kHeads> out;
  for (int h = 0; h < kHeads; ++h) {
    const torch::Tensor p = torch::softmax(logits[h], 1).to(torch::kFloat32).contiguous();
    out[h].assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
  }
  return out;
}

ActionIndex Policy::sample(const std::array<float, kStateSize>& state, uint64_t step) const {
  const auto probs = probabilities(state);
  ActionIndex action{};
  for (int h = 0; h < kHeads; ++h) {
    Rng rng = Rng::stream(seed_, step, uint64_t(h), Purpose::kPolicy);
    double u = rng.uniform(), cumulative = 0;
    action[h] = int(probs[h].size()) - 1;
    for (size_t c = 0; c < probs[h].size(); ++c) {
      cumulative += probs[h][c];
      if (u < cumulative) {
        action[h] = int(c);
        break;
      }
    }
  }
  return action;
}

MixAction Policy::to_mix_action(const ActionIndex& a) const {
  return {a[0] + options_.k_min, a[1] == 0 ? WeightScheme::kDirichlet : WeightScheme::kGaussian,
          options_.base_drop_level + a[2],
          noise_epsilon(options_.noise_control ? noise_level_ : a[3]), options_.weight_cap};
}

double Policy::preferred_noise_epsilon(const std::array<float, kStateSize>& state) const {
  if (options_.noise_control) return noise_epsilon(noise_level_);
  const std::vector<float> p = probabilities(state)[3];
  return noise_epsilon(int(std::max_element(p.begin(), p.end()) - p.begin()));
}

double Policy::noise_epsilon(int level) const {
  return level == 0 ? 0.0
                    : options_.dp_epsilon * std::ldexp(1.0, options_.noise_levels - 1 - level);
}

torch::Tensor Policy::log_prob(const torch::Tensor& states, const torch::Tensor& actions) {
  const auto logits = net_->forward(states);
  torch::Tensor total = torch::zeros({states.size(0)}, states.options());
  for (int h = 0; h < kHeads; ++h)
    total =
        total +
        torch::log_softmax(logits[h], 1).gather(1, actions.select(1, h).view({-1, 1})).squeeze(1);
  return total;
}

double Policy::reward(const PolicyRecord& r) const {
  switch (options_.reward) {
    case RewardDesign::kLoss:
      return r.loss;
    case RewardDesign::kTeacher:
      return r.loss - r.teacher_loss;
    case RewardDesign::kConstrained:
      // Losses of margin heads are O(10): scaled to the leak's O(1).
      return -r.leak - lambda_ * r.loss / 10;
  }
  return 0;
}

bool Policy::finite(const PolicyRecord& r) {
  return std::isfinite(r.loss) && std::isfinite(r.teacher_loss) && std::isfinite(r.leak) &&
         !std::isinf(r.shortfall);
}

namespace {
double median_of(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}
}  // namespace

double Policy::update(const std::vector<PolicyRecord>& records, const std::vector<double>& weights,
                      double reward_clip) {
  if (records.empty()) return 0;
  HYMASK_CHECK(weights.empty() || weights.size() == records.size(), weights.size());
  const int64_t n = int64_t(records.size());
  // The slow timescale first: the multiplier follows the measured shortfalls.
  double shortfall = 0;
  int measured = 0;
  for (const PolicyRecord& r : records)
    if (std::isfinite(r.shortfall)) shortfall += r.shortfall, ++measured;
  if (measured > 0) {  // a PI controller (Stooke et al. 2020): the integral is RCPO's multiplier
    const double excess = shortfall / measured - options_.max_accuracy_drop;
    integral_ = std::max(0.0, integral_ + options_.lambda_lr * excess);
    lambda_ = std::max(0.0, integral_ + options_.lambda_gain * excess);
    // noise_control: one level more while inside the budget, one less while beyond it. No loss
    // measured on a batch prices the noise (docs/RESULTS.md); the validation slice does.
    if (options_.noise_control && excess != 0)
      noise_level_ = std::clamp(noise_level_ + (excess < 0 ? 1 : -1), 0, options_.noise_levels - 1);
  }
  std::vector<float> states;
  std::vector<int64_t> actions;
  std::vector<double> rewards;
  double mean_reward = 0;
  for (const PolicyRecord& r : records) {
    states.insert(states.end(), r.state.begin(), r.state.end());
    actions.insert(actions.end(), r.action.begin(), r.action.end());
    rewards.push_back(reward(r));
  }
  if (reward_clip > 0) {
    const double median = median_of(rewards);
    std::vector<double> deviations;
    for (double r : rewards) deviations.push_back(std::abs(r - median));
    const double mad = std::max(median_of(deviations), 1e-6);
    for (double& r : rewards)
      r = std::clamp(r, median - reward_clip * mad, median + reward_clip * mad);
  }
  for (double r : rewards) mean_reward += r / n;
  if (!has_baseline_) {
    baseline_ = mean_reward;
    has_baseline_ = true;
  }
  std::vector<float> advantages;
  double magnitude = 0;
  for (double r : rewards) {
    advantages.push_back(float(r - baseline_));
    magnitude += std::abs(r - baseline_) / n;
  }
  scale_ += options_.baseline_momentum * (magnitude - scale_);
  const auto dtype = net_->trunk_dtype();
  const torch::Tensor s = torch::tensor(states).view({n, kStateSize}).to(dtype);
  const torch::Tensor a = torch::tensor(actions).view({n, kHeads});
  const torch::Tensor adv = torch::tensor(advantages).to(dtype) / std::max(scale_, 1e-8);
  const torch::Tensor share =
      weights.empty()
          ? torch::full({n}, 1.0 / n, dtype)
          : torch::tensor(weights).to(dtype) / std::accumulate(weights.begin(), weights.end(), 0.0);

  const auto logits = net_->forward(s);
  torch::Tensor log_prob = torch::zeros({n}, s.options());
  torch::Tensor entropy = torch::zeros({n}, s.options());
  for (int h = 0; h < kHeads; ++h) {
    const torch::Tensor lp = torch::log_softmax(logits[h], 1);
    log_prob = log_prob + lp.gather(1, a.select(1, h).view({-1, 1})).squeeze(1);
    entropy = entropy - (lp.exp() * lp).sum(1);
  }
  const torch::Tensor loss =
      -(share * adv * log_prob).sum() - options_.entropy * (share * entropy).sum();
  optimizer_->zero_grad();
  loss.backward();
  optimizer_->step();
  baseline_ += options_.baseline_momentum * (mean_reward - baseline_);
  ++version_;
  return loss.item<double>();
}

std::vector<float> Policy::parameters() const {
  std::vector<float> out;
  for (const torch::Tensor& p : net_->parameters()) {
    const torch::Tensor flat = p.detach().to(torch::kFloat32).contiguous().view({-1});
    out.insert(out.end(), flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
  }
  if (options_.noise_control) out.push_back(float(noise_level_));
  return out;
}

void Policy::set_parameters(const std::vector<float>& values, uint64_t version) {
  size_t offset = 0;
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : net_->parameters()) {
    const size_t n = size_t(p.numel());
    if (offset + n > values.size())
      throw Error("a policy update carries " + std::to_string(values.size()) +
                  " parameters; this policy needs more (different policy.* settings?)");
    p.copy_(torch::from_blob(const_cast<float*>(values.data() + offset), p.sizes(), torch::kFloat32)
                .to(p.scalar_type()));
    offset += n;
  }
  const size_t expected = offset + (options_.noise_control ? 1 : 0);
  if (values.size() != expected)
    throw Error("a policy update carries " + std::to_string(values.size()) +
                " parameters; this policy has " + std::to_string(expected));
  if (options_.noise_control)
    noise_level_ = std::clamp(int(values.back()), 0, options_.noise_levels - 1);
  version_ = version;
}

void Policy::save(torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive net, optimizer;
  net_->save(net);
  optimizer_->save(optimizer);
  archive.write("net", net);
  archive.write("optimizer", optimizer);
  archive.write("scalars",
                torch::tensor({double(version_), baseline_, scale_, has_baseline_ ? 1.0 : 0.0,
                               lambda_, integral_, double(noise_level_)},
                              torch::kFloat64));
}

void Policy::load(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive net, optimizer;
  archive.read("net", net);
  archive.read("optimizer", optimizer);
  net_->load(net);
  optimizer_->load(optimizer);
  torch::Tensor scalars;
  archive.read("scalars", scalars);
  auto s = scalars.accessor<double, 1>();
  version_ = uint64_t(s[0]), baseline_ = s[1], scale_ = s[2], has_baseline_ = s[3] != 0;
  lambda_ = scalars.size(0) > 5 ? s[4] : 0.0;
  integral_ = scalars.size(0) > 5 ? s[5] : 0.0;
  noise_level_ = scalars.size(0) > 6 ? int(s[6]) : 0;
}

}  // namespace hymask::nn
