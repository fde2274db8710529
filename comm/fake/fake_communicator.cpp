#include "comm/fake/fake_communicator.h"

#include <thread>

#include "comm/op_queue.h"

namespace hymask::comm {
namespace {

class FakeCommunicator : public Communicator {
 public:
  FakeCommunicator(std::shared_ptr<FakeWorld> world, int rank)
      : world_(std::move(world)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return world_->size(); }
  std::string backend() const override { return "fake"; }

  std::shared_ptr<Work> allreduce_async(torch::Tensor tensor, ReduceOp op,
                                        Timeout timeout) override {
    const uint64_t seq = sequence_++;
    return std::make_shared<FutureWork>(queue_.submit([=, this]() mutable {
      const auto all =
          world_->exchange(rank_, seq, "allreduce #" + std::to_string(seq), tensor, timeout);
      torch::Tensor sum = torch::zeros_like(tensor);
      for (const auto& t : all) sum += t;  // same order on every rank: identical results
      if (op == ReduceOp::kAverage) sum /= double(all.size());
      tensor.copy_(sum);
    }));
  }

  void broadcast(torch::Tensor tensor, int root, Timeout timeout) override {
    const uint64_t seq = sequence_++;
    queue_.run([&] {
      tensor.copy_(
          world_->exchange(rank_, seq, "broadcast #" + std::to_string(seq), tensor, timeout)[root]);
    });
  }

  torch::Tensor allgather(const torch::Tensor& tensor, Timeout timeout) override {
    const uint64_t seq = sequence_++;
    torch::Tensor out;
    queue_.run([&] {
      out = torch::stack(
          world_->exchange(rank_, seq, "allgather #" + std::to_string(seq), tensor, timeout));
    });
    return out;
  }

  void barrier(Timeout timeout) override {
    const uint64_t seq = sequence_++;
    queue_.run([&] {
      world_->exchange(rank_, seq, "barrier #" + std::to_string(seq), torch::zeros({1}), timeout);
    });
  }

 private:
  std::shared_ptr<FakeWorld> world_;
  int rank_;
  uint64_t sequence_ = 0;
  OpQueue queue_;
};

}  // namespace

std::shared_ptr<FakeWorld> FakeWorld::create(int size) {
  HYMASK_CHECK(size >= 1, size);
  return std::shared_ptr<FakeWorld>(new FakeWorld(size));
}

std::unique_ptr<Communicator> FakeWorld::communicator(int rank) {
  HYMASK_CHECK(rank >= 0 && rank < size_, rank);
  return std::make_unique<FakeCommunicator>(shared_from_this(), rank);
}

void FakeWorld::set_delay(int rank, Timeout delay) {
  std::lock_guard<std::mutex> lock(mutex_);
  delay_[rank] = delay;
}

void FakeWorld::fail(int rank) {
  std::lock_guard<std::mutex> lock(mutex_);
  failed_[rank] = true;
}

std::vector<torch::Tensor> FakeWorld::exchange(int rank, uint64_t sequence,
                                               const std::string& operation,
                                               const torch::Tensor& tensor, Timeout timeout) {
  Timeout delay;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failed_[rank]) throw CommError("rank " + std::to_string(rank) + " failed (injected)");
    delay = delay_[rank];
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mutex_);
  Round& round = rounds_[sequence];
  if (round.tensors.empty()) round.tensors.resize(size_);
  round.tensors[rank] = tensor.clone();
  round.arrived.insert(rank);
  changed_.notify_all();
  if (!changed_.wait_until(lock, deadline, [&] { return int(round.arrived.size()) == size_; })) {
    std::vector<int> missing;
    for (int r = 0; r < size_; ++r)
      if (!round.arrived.count(r)) missing.push_back(r);
    throw CollectiveTimeout(operation, timeout, missing);
  }
  std::vector<torch::Tensor> all = round.tensors;
  if (++round.collected == size_) rounds_.erase(sequence);
  return all;
}

}  // namespace hymask::comm
