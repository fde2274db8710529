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

class OpQueue {
 public:
  OpQueue();
  ~OpQueue();  // finishes what was submitted, then stops
  OpQueue(const OpQueue&) = delete;
  OpQueue& operator=(const OpQueue&) = delete;

  std::shared_ptr<Work> submit(std::function<void()> op);
  void run(std::function<void()> op) { submit(std::move(op))->wait(); }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<void()>> ops_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hymask::comm
