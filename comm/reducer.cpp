#include "comm/reducer.h"

namespace hymask::comm {

Reducer::Reducer(std::vector<torch::Tensor> parameters, Communicator& communicator,
                 size_t bucket_bytes, Timeout timeout)
    : parameters_(std::move(parameters)), communicator_(communicator), timeout_(timeout) {
  bucket_of_.resize(parameters_.size());
  offset_of_.resize(parameters_.size());
  // Reverse order: the gradients of the last parameters arrive first. A bucket holds one dtype.
  size_t used = 0;
  for (size_t n = parameters_.size(); n-- > 0;) {
    const torch::Tensor& p = parameters_[n];
    if (!p.requires_grad()) continue;
    const size_t bytes = size_t(p.numel()) * p.element_size();
    const bool full = !buckets_.empty() && used + bytes > bucket_bytes;
    const bool other_type =
        !buckets_.empty() &&
        parameters_[buckets_.back().parameters.front()].scalar_type() != p.scalar_type();
    if (buckets_.empty() || full || other_type) {
      buckets_.emplace_back();
      used = 0;
    }
    Bucket& b = buckets_.back();
    const int64_t offset =
        b.parameters.empty() ? 0 : b.offsets.back() + parameters_[b.parameters.back()].numel();
    b.parameters.push_back(n);
    b.offsets.push_back(offset);
    bucket_of_[n] = buckets_.size() - 1;
    offset_of_[n] = offset;
    used += bytes;
  }
  for (Bucket& b : buckets_) {
    const torch::Tensor& last = parameters_[b.parameters.back()];
    b.flat = torch::zeros({b.offsets.back() + last.numel()}, last.options().requires_grad(false));
    b.pending = b.parameters.size();
  }
  for (size_t n = 0; n < parameters_.size(); ++n) {
    if (!parameters_[n].requires_grad()) continue;
    hooks_.emplace_back(n, parameters_[n].register_hook([this, n](const torch::Tensor& grad) {
      mark_ready(n, grad);
      return grad;
    }));
  }
}

Reducer::~Reducer() {
  // The hooks hold `this`: the parameters outlive the reducer, its hooks must not.
  for (const auto& [n, handle] : hooks_) parameters_[n].remove_hook(handle);
  for (Bucket& b : buckets_)
    if (b.work) try {
        b.work->wait();
      } catch (...) {
      }
}

void Reducer::broadcast_parameters() {
  torch::NoGradGuard no_grad;
  for (torch::Tensor& p : parameters_) communicator_.broadcast(p.data(), 0, timeout_);
}

void Reducer::mark_ready(size_t n, const torch::Tensor& grad) {
  if (!started_) {
    started_ = true;
    first_hook_ = std::chrono::steady_clock::now();
  }
  Bucket& b = buckets_[bucket_of_[n]];
  b.flat.narrow(0, offset_of_[n], grad.numel()).copy_(grad.reshape({-1}));
  HYMASK_CHECK(b.pending > 0, "parameter ", n, " produced a gradient twice in one backward");
  if (--b.pending == 0) launch_ready_buckets();
}

void Reducer::launch_ready_buckets() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    Bucket& b = buckets_[next_launch_++];
    b.work = communicator_.allreduce_async(b.flat, ReduceOp::kAverage, timeout_);
  }
}

void Reducer::finish() {
  const auto backward_end = std::chrono::steady_clock::now();
  // Parameters that took no part in this backward keep their zeros in the bucket (the same on
  // every rank, as long as every rank uses the same parameters).
  for (Bucket& b : buckets_) b.pending = 0;
  launch_ready_buckets();
  for (Bucket& b : buckets_) b.work->wait();
  const auto done = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  for (Bucket& b : buckets_) {
    for (size_t i = 0; i < b.parameters.size(); ++i) {
      torch::Tensor& p = parameters_[b.parameters[i]];
      torch::Tensor averaged = b.flat.narrow(0, b.offsets[i], p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(averaged);
      else
        p.mutable_grad() = averaged.clone();
    }
    b.pending = b.parameters.size();
    b.work.reset();
    b.flat.zero_();
  }
  stats_.backward_seconds =
      started_ ? std::chrono::duration<double>(backward_end - first_hook_).count() : 0;
  stats_.exposed_seconds = std::chrono::duration<double>(done - backward_end).count();
  next_launch_ = 0;
  started_ = false;
}

}  // namespace hymask::comm
