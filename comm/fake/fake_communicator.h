// The in-process fake backend: ranks are threads sharing a FakeWorld. Tests use it to run
// collectives without MPI, and to make a rank slow (set_delay) or make it die (fail): the others
// then time out and name it.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "comm/communicator.h"

namespace hymask::comm {

class FakeWorld : public std::enable_shared_from_this<FakeWorld> {
 public:
  static std::shared_ptr<FakeWorld> create(int size);
  std::unique_ptr<Communicator> communicator(int rank);
  int size() const { return size_; }

  void set_delay(int rank, Timeout delay);  // every later operation of `rank` starts this late
  void fail(int rank);                      // `rank` dies: its later operations throw, unseen

  // One collective, as every rank sees it: waits until all ranks brought their tensor for
  // operation `sequence`, then returns all of them (index = rank).
  std::vector<torch::Tensor> exchange(int rank, uint64_t sequence, const std::string& operation,
                                      const torch::Tensor& tensor, Timeout timeout);

 private:
  explicit FakeWorld(int size) : size_(size), delay_(size, Timeout(0)), failed_(size, false) {}

  struct Round {
    std::vector<torch::Tensor> tensors;
    std::set<int> arrived;
    int collected = 0;
  };
  int size_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<uint64_t, Round> rounds_;
  std::vector<Timeout> delay_;
  std::vector<bool> failed_;
};

}  // namespace hymask::comm
