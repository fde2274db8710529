#include "coordinator/policy_trainer.h"

#include <torch/serialize.h>

#include <cmath>
#include <sstream>

#include "core/archive_check.h"
#include "core/error.h"
#include "core/files.h"

namespace hymask::coordinator {

PolicyTrainer::PolicyTrainer(const nn::PolicyOptions& policy, uint64_t seed,
                             AggregationOptions options)
    : options_(options), policy_(policy, seed) {}

size_t PolicyTrainer::add(uint32_t worker, const std::vector<nn::PolicyRecord>& records) {
  size_t kept = 0;
  for (const nn::PolicyRecord& r : records) {
    if (r.version + uint64_t(options_.max_staleness) < policy_.version() ||
        r.version > policy_.version() || !nn::Policy::finite(r)) {
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
  policy_.update(records, weights, options_.reward_clip);
  records_used_ += records.size();
  by_worker_.clear();
  pending_ = 0;
  return policy_.version();
}

void PolicyTrainer::save(const std::string& path) const {
  torch::serialize::OutputArchive archive, policy;
  policy_.save(policy);
  archive.write("policy", policy);
  archive.write("counters", torch::tensor({int64_t(records_used_), int64_t(dropped_stale_)}));
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

void PolicyTrainer::load(const std::string& path) {
  try {
    verify_archive(path);
  } catch (const Error& e) {
    throw Error("cannot resume the coordinator: " + std::string(e.what()) +
                " (move it away to start the policy afresh)");
  }
  try {
    torch::serialize::InputArchive archive, policy;
    archive.load_from(path);
    archive.read("policy", policy);
    policy_.load(policy);
    torch::Tensor counters;
    archive.read("counters", counters);
    records_used_ = uint64_t(counters[0].item<int64_t>());
    dropped_stale_ = uint64_t(counters[1].item<int64_t>());
  } catch (const c10::Error& e) {
    throw Error("cannot resume the coordinator from " + path + ": " + e.what_without_backtrace() +
                " (different policy.* settings? move the file away "
                "to start afresh)");
  }
}

}  // namespace hymask::coordinator
