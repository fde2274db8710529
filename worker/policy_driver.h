// Where a worker's adaptive policy learns (mask.method adaptive). The trainer samples its actions
// from policy() and hands every measured batch to record(); what happens next is the driver's:
//   LocalPolicyDriver        trains this rank's policy from this rank's records (REINFORCE);
//   CoordinatedPolicyDriver  reports the records to hymask-coordinator, adopts the versions it
//                            broadcasts, and passes on the operator's stop, pause and checkpoint.
#pragma once

#include <torch/serialize/archive.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/nn/policy.h"

namespace hymask {

class PolicyDriver {
 public:
  PolicyDriver(const Config& config, int rank);
  virtual ~PolicyDriver() = default;

  nn::Policy& policy() { return policy_; }
  const nn::Policy& policy() const { return policy_; }

  // Before the step's action is drawn (a coordinated driver adopts the newest central version).
  virtual void begin_step(int64_t /*step*/) {}
  // A measured batch; every policy.update_every records, the policy learns from them.
  void record(const nn::PolicyRecord& record);
  // This rank's progress, for the status console.
  virtual void statistics(int64_t /*step*/, double /*images_per_second*/, double /*loss*/) {}
  // The operator's commands; a local driver has no operator.
  virtual bool take_stop() { return false; }
  virtual bool take_checkpoint() { return false; }
  virtual bool paused() const { return false; }
  // Why this worker can no longer get a policy, or "".
  virtual std::string lost() const { return ""; }
  // Where the policy came from and its last version (eval.json's "policy").
  virtual nlohmann::json report() const;

  // The policy and the records not yet learnt from (checkpoint keys "policy", "pending_*").
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 protected:
  virtual void learn(const std::vector<nn::PolicyRecord>& records) = 0;

 private:
  nn::Policy policy_;
  int update_every_;
  std::vector<nn::PolicyRecord> pending_;
};

// The coordinated driver when coordinator.address is set, else the local one.
std::unique_ptr<PolicyDriver> make_policy_driver(const Config& config, int rank);

}  // namespace hymask
