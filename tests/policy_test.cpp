#include "core/nn/policy.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/random.h"

namespace hymask::nn {
namespace {

std::array<float, kStateSize> random_state(Rng& rng) {
  std::array<float, kStateSize> s{};
  for (int i = 0; i < kStateSize - 1; ++i) s[i] = float(rng.uniform(-1, 1));
  s[kStateSize - 1] = 1;
  return s;
}

TEST(Policy, ConvergesToTheBestActionOfAToyReward) {
  PolicyOptions o;
  o.k_max = 6;
  o.base_drop_level = 1;
  o.drop_levels = 4;
  o.lr = 0.05;
  o.entropy = 0.001;
  Policy policy(o, 7);
  const ActionIndex best{3, 1, 2};  // k = 4, gaussian weights, drop level 3
  Rng rng(1);
  uint64_t step = 0;
  for (int update = 0; update < 300; ++update) {
    std::vector<PolicyRecord> records;
    for (int i = 0; i < 16; ++i, ++step) {
      PolicyRecord r;
      r.state = random_state(rng);
      r.action = policy.sample(r.state, step);
      // One point per head that matches, plus noise: the best action is the unique maximiser.
      r.reward = rng.normal() * 0.3;
      for (int h = 0; h < kHeads; ++h) r.reward += r.action[h] == best[h];
      records.push_back(r);
    }
    policy.update(records);
  }
  EXPECT_EQ(policy.version(), 300u);
  const auto p = policy.probabilities(random_state(rng));
  for (int h = 0; h < kHeads; ++h) EXPECT_GT(p[h][best[h]], 0.9) << "head " << h;
  const MixAction action = policy.to_mix_action(best);
  EXPECT_EQ(action.k, 4);
  EXPECT_EQ(action.weights, WeightScheme::kGaussian);
  EXPECT_EQ(action.drop_level, 3);
}

TEST(Policy, LogProbGradientMatchesFiniteDifferences) {
  torch::manual_seed(5);
  PolicyOptions o;
  Policy policy(o, 1);
  policy.net()->to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;  // non-zero heads, so every parameter matters
    for (auto& p : policy.net()->parameters()) p.copy_(torch::randn_like(p) * 0.5);
  }
  const torch::Tensor states = torch::randn({3, kStateSize}, torch::kFloat64);
  const torch::Tensor actions =
      torch::tensor({0, 1, 3, 5, 0, 1, 2, 1, 0}, torch::kInt64).view({3, 3});
  const torch::Tensor lp = policy.log_prob(states, actions).sum();
  policy.net()->zero_grad();
  lp.backward();
  const double h = 1e-6;
  for (auto& p : policy.net()->parameters()) {
    const torch::Tensor grad = p.grad().clone();
    auto flat = p.view({-1});
    for (int64_t i = 0; i < flat.size(0); ++i) {
      double up, down;
      {
        torch::NoGradGuard no_grad;
        const double saved = flat[i].item<double>();
        flat[i] = saved + h;
        up = policy.log_prob(states, actions).sum().item<double>();
        flat[i] = saved - h;
        down = policy.log_prob(states, actions).sum().item<double>();
        flat[i] = saved;
      }
      EXPECT_NEAR(grad.view({-1})[i].item<double>(), (up - down) / (2 * h), 1e-6);
    }
  }
}

TEST(Policy, SamplingIsAFunctionOfParametersSeedAndStep) {
  Policy a(PolicyOptions{}, 3), b(PolicyOptions{}, 3);
  Rng rng(2);
  const auto s = random_state(rng);
  for (uint64_t step = 0; step < 50; ++step) EXPECT_EQ(a.sample(s, step), b.sample(s, step));
  int differ = 0;
  for (uint64_t step = 0; step < 50; ++step) differ += a.sample(s, step) != a.sample(s, step + 1);
  EXPECT_GT(differ, 10);
}

}  // namespace
}  // namespace hymask::nn
