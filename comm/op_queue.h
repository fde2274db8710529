// Runs submitted operations one at a time, in submission order, on a thread of its own: the
// collectives of a backend (every MPI call happens on this thread), so that a caller can overlap
// communication with computation and every rank issues collectives in the same order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "comm/communicator.h"

namespace hymask::comm {

// A Work that is done when a future is.
class FutureWork : public Work {
 public:
  explicit FutureWork(std::shared_future<void> done) : done_(std::move(done)) {}
  void wait() override { done_.get(); }

 private:
  std::shared_future<void> done_;
};

class OpQueue {
 public:
  OpQueue();
  ~OpQueue();  // finishes what was submitted, then stops
  OpQueue(const OpQueue&) = delete;
  OpQueue& operator=(const OpQueue&) = delete;

  // The future completes when the op has run (with its exception, if it threw).
  std::shared_future<void> submit(std::function<void()> op);
  void run(std::function<void()> op) { submit(std::move(op)).get(); }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<void()>> ops_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hymask::comm
