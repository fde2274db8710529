// Gradient averaging across ranks in the manner of PyTorch DDP's Reducer: parameters are grouped
// into buckets of about `bucket_bytes` (in reverse order, since backward produces the last layers'
// gradients first); a hook on each parameter copies its gradient into the bucket as soon as
// autograd computes it, and a full bucket is all-reduced asynchronously at once, so communication
// overlaps the rest of the backward pass. Buckets are launched in index order on every rank, so all
// ranks issue the same collectives in the same order.
//
// Use per step: zero the gradients, forward, backward, then finish() (waits for every bucket and
// writes the averaged gradients into .grad), then the optimiser step.
//
// BatchNorm: running statistics stay per rank (as DDP without SyncBatchNorm); rank 0's are the
// ones checkpointed. For exact equivalence with one process, use a backbone without BatchNorm
// (model.batchnorm: false).
#pragma once

#include <torch/types.h>

#include <memory>
#include <vector>

#include "comm/communicator.h"

namespace hymask::comm {

struct ReducerStats {
  double backward_seconds = 0;  // from the first hook to the end of backward (finish() called)
  double exposed_seconds = 0;   // time finish() waited for communication after backward
};

class Reducer {
 public:
  Reducer(std::vector<torch::Tensor> parameters, Communicator& communicator,
          size_t bucket_bytes = size_t(25) << 20, Timeout timeout = std::chrono::seconds(300));
  ~Reducer();

  // Parameters are equal on every rank afterwards: rank 0's values.
  void broadcast_parameters();
  // Waits for the all-reduces and stores the averaged gradients into the parameters' .grad.
  void finish();

  size_t num_buckets() const { return buckets_.size(); }
  const ReducerStats& last_stats() const { return stats_; }

 private:
  struct Bucket {
    std::vector<size_t> parameters;  // indices into parameters_
    std::vector<int64_t> offsets;    // element offset of each in `flat`
    torch::Tensor flat;
    size_t pending = 0;
    std::shared_ptr<Work> work;
  };
  void mark_ready(size_t parameter, const torch::Tensor& grad);
  void launch_ready_buckets();

  std::vector<torch::Tensor> parameters_;
  Communicator& communicator_;
  Timeout timeout_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;                   // parameter -> bucket
  std::vector<int64_t> offset_of_;                  // parameter -> offset in its bucket
  std::vector<std::pair<size_t, unsigned>> hooks_;  // (parameter, handle), removed at the end
  size_t next_launch_ = 0;
  bool started_ = false;
  std::chrono::steady_clock::time_point first_hook_;
  ReducerStats stats_;
};

}  // namespace hymask::comm
