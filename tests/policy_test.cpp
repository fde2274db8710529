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
  o.k_min = 1;
  o.k_max = 6;
  o.base_drop_level = 1;
  o.drop_levels = 4;
  o.noise_levels = 3;
  o.lr = 0.05;
  o.entropy = 0.001;
  Policy policy(o, 7);
  const ActionIndex best{3, 1, 2, 1};  // k = 4, gaussian weights, drop level 3, noise level 1
  Rng rng(1);
  uint64_t step = 0;
  for (int update = 0; update < 300; ++update) {
    std::vector<PolicyRecord> records;
    for (int i = 0; i < 16; ++i, ++step) {
      PolicyRecord r;
      r.state = random_state(rng);
      r.action = policy.sample(r.state, step);
      // One point per head that matches, plus noise: the best action is the unique maximiser.
      r.loss = rng.normal() * 0.3;
      for (int h = 0; h < kHeads; ++h) r.loss += r.action[h] == best[h];
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
  EXPECT_EQ(action.noise_epsilon, 2 * o.dp_epsilon);
}

TEST(Policy, LogProbGradientMatchesFiniteDifferences) {
  torch::manual_seed(5);
  PolicyOptions o;
  o.k_min = 1;
  o.drop_levels = 4;
  Policy policy(o, 1);
  policy.net()->to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;  // non-zero heads, so every parameter matters
    for (auto& p : policy.net()->parameters()) p.copy_(torch::randn_like(p) * 0.5);
  }
  const torch::Tensor states = torch::randn({3, kStateSize}, torch::kFloat64);
  const torch::Tensor actions =
      torch::tensor({0, 1, 3, 0, 5, 0, 1, 0, 2, 1, 0, 0}, torch::kInt64).view({3, kHeads});
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

// A toy world with three choices of k (the other heads fixed to one category): easy (k = 2),
// hard but learnable (k = 3), destructive (k = 4: the labels are lost in the mixture). Each
// action's batch loss and in-loop leak are fixed; validation accuracy falls 40 points below the
// reference for every destructive batch in the last window, and 1 point for a hard one.
struct ToyWorld {
  static constexpr double kLoss[3] = {1.0, 2.0, 6.0};
  static constexpr double kTeacherLoss[3] = {0.8, 0.6, 6.0};
  static constexpr double kLeak[3] = {0.9, 0.5, 0.2};

  // Trains a policy for `updates` updates of 16 records; returns P(k) at the end.
  static std::vector<float> train(RewardDesign design, int updates) {
    PolicyOptions o;
    o.reward = design;
    o.k_min = 2;
    o.k_max = 4;
    o.drop_levels = 1;
    o.lr = 0.05;
    o.entropy = 0.001;
    o.max_accuracy_drop = 3;
    o.lambda_lr = 0.05;
    Policy policy(o, 11);
    Rng rng(4);
    uint64_t step = 0;
    std::array<float, kStateSize> state{};
    state[kStateSize - 1] = 1;
    for (int update = 0; update < updates; ++update) {
      std::vector<PolicyRecord> records;
      double destroyed = 0, hard = 0;
      for (int i = 0; i < 16; ++i, ++step) {
        PolicyRecord r;
        r.state = state;
        r.action = policy.sample(state, step);
        const int a = r.action[0];
        r.loss = kLoss[a] + 0.1 * rng.normal();
        r.teacher_loss = kTeacherLoss[a] + 0.1 * rng.normal();
        r.leak = kLeak[a] + 0.02 * rng.normal();
        destroyed += (a == 2) / 16.0;
        hard += (a == 1) / 16.0;
        records.push_back(r);
      }
      records.back().shortfall = 40 * destroyed + 1 * hard;
      policy.update(records);
    }
    return policy.probabilities(state)[0];
  }
};

TEST(RewardDesigns, LossRewardPicksTheDestructiveAction) {
  const auto p = ToyWorld::train(RewardDesign::kLoss, 200);
  EXPECT_GT(p[2], 0.9) << p[0] << " " << p[1] << " " << p[2];
}

TEST(RewardDesigns, ConstrainedRewardSettlesOnTheHardButLearnableAction) {
  // Unconstrained, privacy alone would pick the destructive action (lowest leak); the budget
  // (3 points) leaves room for the hard action only.
  const auto p = ToyWorld::train(RewardDesign::kConstrained, 400);
  EXPECT_GT(p[1], 0.8) << p[0] << " " << p[1] << " " << p[2];
  EXPECT_LT(p[2], 0.15) << p[0] << " " << p[1] << " " << p[2];
}

TEST(RewardDesigns, TeacherRewardPicksWhatTheTeacherStillRecognises) {
  const auto p = ToyWorld::train(RewardDesign::kTeacher, 200);
  EXPECT_GT(p[1], 0.9) << p[0] << " " << p[1] << " " << p[2];
}

TEST(RewardDesigns, MultiplierRisesBelowTheBudgetAndRelaxesWhenItRecovers) {
  PolicyOptions o;
  o.reward = RewardDesign::kConstrained;
  o.max_accuracy_drop = 3;
  o.lambda_lr = 0.01;
  Policy policy(o, 1);
  auto measure = [&](double shortfall) {
    PolicyRecord r;
    r.shortfall = shortfall;
    r.state[kStateSize - 1] = 1;
    policy.update({r, PolicyRecord{}});  // the second record carries no measurement
    return policy.multiplier();
  };
  EXPECT_EQ(policy.multiplier(), 0);
  EXPECT_EQ(measure(1), 0);  // within the budget: stays at 0
  double last = 0;
  for (int i = 0; i < 5; ++i) {  // 10 points spent, 7 beyond the budget: rises by 0.07 each
    const double now = measure(10);
    EXPECT_NEAR(now - last, 0.07, 1e-12);
    last = now;
  }
  for (int i = 0; i < 3; ++i) {  // recovered to 1 point: relaxes by 0.02 each
    const double now = measure(1);
    EXPECT_NEAR(last - now, 0.02, 1e-12);
    last = now;
  }
  for (int i = 0; i < 100; ++i) last = measure(0);
  EXPECT_EQ(last, 0);  // never negative
  // Records without a measurement leave it alone.
  measure(10);
  const double before = policy.multiplier();
  policy.update({PolicyRecord{}});
  EXPECT_EQ(policy.multiplier(), before);
}

// With a proportional gain the multiplier answers the last measurement at once (a PI
// controller): up with a shortfall beyond the budget, back to its integral part when within it.
TEST(RewardDesigns, ProportionalGainAnswersTheLastMeasurement) {
  PolicyOptions o;
  o.reward = RewardDesign::kConstrained;
  o.max_accuracy_drop = 3;
  o.lambda_lr = 0.01;
  o.lambda_gain = 0.1;
  Policy policy(o, 1);
  PolicyRecord r;
  r.shortfall = 10;
  policy.update({r});
  EXPECT_NEAR(policy.multiplier(), 0.07 + 0.7, 1e-12);
  r.shortfall = 1;
  policy.update({r});
  EXPECT_NEAR(policy.multiplier(), 0.0, 1e-12);  // 0.05 integral - 0.2 proportional
  r.shortfall = 4;
  policy.update({r});
  EXPECT_NEAR(policy.multiplier(), 0.06 + 0.1, 1e-12);
}

// policy.lambda_init: the multiplier starts there, and relaxes from there when the accuracy is
// within the budget (it is the integral's starting point, not a floor).
TEST(RewardDesigns, MultiplierStartsAtItsInitialValue) {
  PolicyOptions o;
  o.reward = RewardDesign::kConstrained;
  o.max_accuracy_drop = 3;
  o.lambda_lr = 0.01;
  o.lambda_init = 2;
  Policy policy(o, 1);
  EXPECT_EQ(policy.multiplier(), 2);
  PolicyRecord r;
  r.shortfall = 0;  // 3 points inside the budget
  policy.update({r});
  EXPECT_NEAR(policy.multiplier(), 2 - 0.03, 1e-12);
}

TEST(RewardDesigns, ConstrainedRewardTradesLeakAgainstTheLossAtTheMultiplier) {
  PolicyOptions o;
  o.reward = RewardDesign::kConstrained;
  o.lambda_lr = 1;
  o.max_accuracy_drop = 0;
  Policy policy(o, 1);
  PolicyRecord r;
  r.loss = 12;
  r.leak = 0.4;
  EXPECT_DOUBLE_EQ(policy.reward(r), -0.4);  // multiplier 0: privacy alone
  PolicyRecord measured;
  measured.shortfall = 0.5;
  policy.update({measured});
  EXPECT_DOUBLE_EQ(policy.multiplier(), 0.5);
  EXPECT_DOUBLE_EQ(policy.reward(r), -0.4 - 0.5 * 12 / 10);
}

TEST(Policy, ActionSpaceStartsAtKMin) {
  PolicyOptions o;  // k in 2..6 by default: no unmixed face
  Policy policy(o, 1);
  EXPECT_EQ(policy.net()->categories[0], 5);
  EXPECT_EQ(policy.to_mix_action({0, 0, 0, 0}).k, 2);
  EXPECT_EQ(policy.to_mix_action({4, 0, 0, 0}).k, 6);
}

// policy.start_mildest: each head starts with that probability on its mildest choice and the rest
// shared evenly; whatever the state (the output weights start at zero). 0 is the uniform start.
TEST(Policy, MildStartPutsItsShareOnEachHeadsMildestChoice) {
  PolicyOptions o;
  o.noise_levels = 3;
  const std::array<float, kStateSize> states[] = {{0, 1, 0.1f, 0, 1, 1},
                                                  {0.9f, 2, 0.3f, -0.2f, 1.5f, 1}};
  for (const auto& state : states) {
    const auto uniform = Policy(o, 1).probabilities(state);
    for (float p : uniform[0]) EXPECT_NEAR(p, 1.0 / 5, 1e-6);
    o.start_mildest = 0.8;
    const auto mild = Policy(o, 1).probabilities(state);
    o.start_mildest = 0;
    EXPECT_NEAR(mild[0][0], 0.8, 1e-5);  // k = k_min
    for (int c = 1; c < 5; ++c) EXPECT_NEAR(mild[0][c], 0.2 / 4, 1e-5);
    EXPECT_NEAR(mild[1][0], 0.8, 1e-5);  // Dirichlet weights
    EXPECT_NEAR(mild[2][0], 1.0, 1e-6);  // one drop level: nothing to choose
    EXPECT_NEAR(mild[3][0], 0.8, 1e-5);  // no noise
    EXPECT_NEAR(mild[3][2], 0.1, 1e-5);
  }
}

// policy.noise_control: the validation shortfall, not a head, moves the noise level: up one per
// update whose measurements are inside the budget, down one when beyond; a worker's copy follows
// through the parameters a policy update carries.
TEST(Policy, NoiseControlRaisesTheNoiseInsideTheBudgetAndLowersItBeyond) {
  PolicyOptions o;
  o.reward = RewardDesign::kConstrained;
  o.max_accuracy_drop = 3;
  o.noise_levels = 3;  // none, epsilon 16, epsilon 8
  o.noise_control = true;
  Policy policy(o, 1);
  EXPECT_EQ(policy.net()->categories[3], 1);  // no head for it
  const std::array<float, kStateSize> state{};
  const auto epsilon = [&] { return policy.to_mix_action(policy.sample(state, 9)).noise_epsilon; };
  EXPECT_EQ(epsilon(), 0.0);
  PolicyRecord inside, beyond, unmeasured;
  inside.shortfall = 1;
  beyond.shortfall = 5;
  const double expected[] = {16, 8, 8, 16, 16, 0, 0};
  const PolicyRecord* records[] = {&inside,     &inside, &inside, &beyond,
                                   &unmeasured, &beyond, &beyond};
  for (int i = 0; i < 7; ++i) {
    policy.update({*records[i]});
    EXPECT_EQ(epsilon(), expected[i]) << "after update " << i;
    EXPECT_EQ(policy.preferred_noise_epsilon(state), expected[i]);
  }
  policy.update({inside});
  Policy worker(o, 2);
  worker.set_parameters(policy.parameters(), policy.version());
  EXPECT_EQ(worker.preferred_noise_epsilon(state), 16.0);
  EXPECT_THROW(worker.set_parameters(std::vector<float>(policy.parameters().size() - 1), 1), Error);
}

TEST(Policy, NoiseLevelsHalveTheNoiseBelowDpsEpsilon) {
  PolicyOptions o;
  EXPECT_EQ(Policy(o, 1).net()->categories[3], 1);  // by default the policy adds no noise
  EXPECT_EQ(Policy(o, 1).to_mix_action({0, 0, 0, 0}).noise_epsilon, 0.0);
  o.noise_levels = 3;
  o.dp_epsilon = 8;
  Policy policy(o, 1);
  EXPECT_EQ(policy.net()->categories[3], 3);
  EXPECT_EQ(policy.to_mix_action({0, 0, 0, 0}).noise_epsilon, 0.0);
  EXPECT_EQ(policy.to_mix_action({0, 0, 0, 1}).noise_epsilon, 16.0);
  EXPECT_EQ(policy.to_mix_action({0, 0, 0, 2}).noise_epsilon, 8.0);
  // Without the head the network has exactly the old parameters (checkpoints and the
  // coordinator's updates keep their size); with it, one more linear layer.
  const size_t without = Policy(PolicyOptions{}, 1).parameters().size();
  EXPECT_EQ(policy.parameters().size(), without + size_t(o.hidden + 1) * 3);
}

}  // namespace
}  // namespace hymask::nn
