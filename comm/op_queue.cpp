#include "comm/op_queue.h"

namespace hymask::comm {

OpQueue::OpQueue() {
  thread_ = std::thread([this] {
    for (;;) {
      std::packaged_task<void()> op;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return stopping_ || !ops_.empty(); });
        if (ops_.empty()) return;
        op = std::move(ops_.front());
        ops_.pop_front();
      }
      op();  // exceptions land in the op's future
    }
  });
}

OpQueue::~OpQueue() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  thread_.join();
}

std::shared_future<void> OpQueue::submit(std::function<void()> op) {
  std::packaged_task<void()> task(std::move(op));
  std::shared_future<void> done = task.get_future().share();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ops_.push_back(std::move(task));
  }
  ready_.notify_one();
  return done;
}

}  // namespace hymask::comm
