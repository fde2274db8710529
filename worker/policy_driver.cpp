#include "worker/policy_driver.h"

#include <fmt/format.h>
#include <torch/serialize.h>

#include "comm/protocol/auth.h"
#include "comm/protocol/frame.h"
#include "worker/coordinator_client.h"

namespace hymask {

PolicyDriver::PolicyDriver(const Config& config, int rank)
    // Each rank draws its own actions from its own stream.
    : policy_(nn::policy_options(config), config.seed + 1000003 * uint64_t(rank)),
      update_every_(config.policy.update_every) {}

void PolicyDriver::record(const nn::PolicyRecord& record) {
  pending_.push_back(record);
  if (int64_t(pending_.size()) < update_every_) return;
  learn(pending_);
  pending_.clear();
}

nlohmann::json PolicyDriver::report() const {
  return {{"source", "local"},
          {"last_version", policy_.version()},
          {"multiplier", policy_.multiplier()}};
}

void PolicyDriver::save(torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive policy;
  policy_.save(policy);
  archive.write("policy", policy);
  const int64_t p = int64_t(pending_.size());
  std::vector<float> states;
  std::vector<int64_t> actions, versions;
  std::vector<double> measured;  // loss, teacher loss, leak, shortfall per record
  for (const auto& r : pending_) {
    states.insert(states.end(), r.state.begin(), r.state.end());
    actions.insert(actions.end(), r.action.begin(), r.action.end());
    versions.push_back(int64_t(r.version));
    measured.insert(measured.end(), {r.loss, r.teacher_loss, r.leak, r.shortfall});
  }
  archive.write("pending_states", torch::tensor(states).view({p, nn::kStateSize}));
  archive.write("pending_actions", torch::tensor(actions).view({p, nn::kHeads}));
  archive.write("pending_versions", torch::tensor(versions));
  archive.write("pending_measured", torch::tensor(measured, torch::kFloat64).view({p, 4}));
}

void PolicyDriver::load(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive policy;
  archive.read("policy", policy);
  policy_.load(policy);
  torch::Tensor states, actions, versions, measured;
  archive.read("pending_states", states);
  archive.read("pending_actions", actions);
  archive.read("pending_versions", versions);
  archive.read("pending_measured", measured);
  pending_.clear();
  for (int64_t i = 0; i < measured.size(0); ++i) {
    nn::PolicyRecord r;
    r.version = uint64_t(versions[i].item<int64_t>());
    for (int j = 0; j < nn::kStateSize; ++j) r.state[j] = states[i][j].item<float>();
    // Checkpoints from before the noise head hold three columns: its level was 0.
    for (int j = 0; j < std::min<int64_t>(nn::kHeads, actions.size(1)); ++j)
      r.action[j] = int(actions[i][j].item<int64_t>());
    const torch::Tensor row = measured[i];
    auto m = row.accessor<double, 1>();
    r.loss = m[0], r.teacher_loss = m[1], r.leak = m[2], r.shortfall = m[3];
    pending_.push_back(r);
  }
}

namespace {

class LocalPolicyDriver : public PolicyDriver {
 public:
  using PolicyDriver::PolicyDriver;

 protected:
  void learn(const std::vector<nn::PolicyRecord>& records) override { policy().update(records); }
};

class CoordinatedPolicyDriver : public PolicyDriver {
 public:
  CoordinatedPolicyDriver(const Config& config, int rank)
      : PolicyDriver(config, rank),
        address_(config.coordinator.address),
        give_up_s_(config.coordinator.give_up_s) {
    ClientOptions c;
    std::tie(c.host, c.port) = protocol::parse_address(config.coordinator.address);
    c.secret = protocol::load_secret();
    c.config_hash = protocol::config_hash(experiment_yaml(config));
    c.rank = rank;
    c.tls = protocol::tls_options(config);
    client_ = std::make_unique<CoordinatorClient>(c);
  }

  void begin_step(int64_t step) override {  // adopt the newest central policy, never waiting
    client_->set_step(uint64_t(step));
    if (auto update = client_->newer_policy(policy().version())) {
      policy().set_parameters(update->second, update->first);
      ++versions_adopted_;
    }
  }
  void statistics(int64_t step, double images_per_second, double loss) override {
    client_->statistics(uint64_t(step), images_per_second, loss, 0.0);
  }
  bool take_stop() override { return client_->take_stop(); }
  bool take_checkpoint() override { return client_->take_checkpoint(); }
  bool paused() const override { return client_->paused(); }
  std::string lost() const override {
    if (auto reason = client_->refusal()) return "the coordinator at " + address_ + " " + *reason;
    const double away = client_->seconds_unreachable();
    if (away > give_up_s_)
      return fmt::format(
          "the coordinator at {} has been unreachable for {:.0f} s (coordinator.give_up_s {})",
          address_, away, give_up_s_);
    return "";
  }
  nlohmann::json report() const override {
    nlohmann::json r = PolicyDriver::report();
    r["source"] = "coordinator";
    r["versions_adopted"] = versions_adopted_;
    return r;
  }

 protected:
  void learn(const std::vector<nn::PolicyRecord>& records) override { client_->report(records); }

 private:
  std::string address_;
  double give_up_s_;
  std::unique_ptr<CoordinatorClient> client_;
  int64_t versions_adopted_ = 0;
};

}  // namespace

std::unique_ptr<PolicyDriver> make_policy_driver(const Config& config, int rank) {
  if (config.coordinator.address.empty()) return std::make_unique<LocalPolicyDriver>(config, rank);
  return std::make_unique<CoordinatedPolicyDriver>(config, rank);
}

}  // namespace hymask
