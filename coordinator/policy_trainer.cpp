#include "coordinator/policy_trainer.h"

#include <algorithm>
#include <cmath>

namespace hymask::coordinator {

PolicyTrainer::PolicyTrainer(const nn::PolicyOptions& policy, uint64_t seed,
                             AggregationOptions options)
    : options_(options), policy_(policy, seed) {}

size_t PolicyTrainer::add(uint32_t worker, const std::vector<nn::PolicyRecord>& records) {
  size_t kept = 0;
  for (const nn::PolicyRecord& r : records) {
    if (r.version + uint64_t(options_.max_staleness) < policy_.version() ||
        r.version > policy_.version() || !std::isfinite(r.reward)) {
      ++dropped_stale_;
      continue;
    }
    by_worker_[worker].push_back(r);
    ++kept;
  }
  pending_ += kept;
  return kept;
}

uint64_t PolicyTrainer::update() {
  std::vector<nn::PolicyRecord> records;
  std::vector<double> weights;
  const double workers = double(by_worker_.size());
  for (const auto& [worker, list] : by_worker_)
    for (const nn::PolicyRecord& r : list) {
      records.push_back(r);
      weights.push_back(1.0 / (workers * double(list.size())));
    }
  if (records.empty()) return policy_.version();
  std::vector<double> rewards;
  for (const auto& r : records) rewards.push_back(r.reward);
  auto median_of = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  const double median = median_of(rewards);
  std::vector<double> deviations;
  for (double r : rewards) deviations.push_back(std::abs(r - median));
  const double mad = std::max(median_of(deviations), 1e-6);
  const double low = median - options_.reward_clip * mad, high = median + options_.reward_clip * mad;
  for (auto& r : records) r.reward = std::clamp(r.reward, low, high);
  policy_.update(records, weights);
  records_used_ += records.size();
  by_worker_.clear();
  pending_ = 0;
  return policy_.version();
}

}  // namespace hymask::coordinator
