// Central training of the masking policy from the rewards of many workers (REINFORCE of
// core/nn/policy.h), robust to a bad worker:
//   - each worker's records together weigh 1/W of an update, however many it sends;
//   - rewards are clipped to median +- reward_clip x MAD of the batch, so no reported value,
//     however large, pulls harder than a plausible one.
// Rewards from a policy version more than max_staleness updates old are dropped (counted); newer
// ones are used as they are (REINFORCE on slightly off-policy samples: the policy moves little
// per update, and the asynchronous design accepts that bias rather than block workers).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "core/nn/policy.h"

namespace hymask::coordinator {

struct AggregationOptions {
  int update_every = 64;     // records (from all workers) per update
  double reward_clip = 3.0;  // in MADs around the median
  int max_staleness = 4;     // policy versions
};

class PolicyTrainer {
 public:
  PolicyTrainer(const nn::PolicyOptions& policy, uint64_t seed, AggregationOptions options);

  // Adds a worker's records; stale ones are dropped. Returns how many were kept.
  size_t add(uint32_t worker, const std::vector<nn::PolicyRecord>& records);
  bool ready() const { return pending_ >= size_t(options_.update_every); }
  size_t pending() const { return pending_; }
  // One update from the pending records; returns the new version.
  uint64_t update();

  // The whole state (policy, its optimiser, baseline, version, counters), atomically; and back.
  void save(const std::string& path) const;
  void load(const std::string& path);

  nn::Policy& policy() { return policy_; }
  uint64_t version() const { return policy_.version(); }
  uint64_t dropped_stale() const { return dropped_stale_; }
  uint64_t records_used() const { return records_used_; }

 private:
  AggregationOptions options_;
  nn::Policy policy_;
  std::map<uint32_t, std::vector<nn::PolicyRecord>> by_worker_;
  size_t pending_ = 0;
  uint64_t dropped_stale_ = 0;
  uint64_t records_used_ = 0;
};

}  // namespace hymask::coordinator
