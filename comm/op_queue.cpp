#include "comm/op_queue.h"

namespace hymask::comm {
namespace {

class FutureWork : public Work {
 public:
  explicit FutureWork(std::shared_future<void> done) : done_(std::move(done)) {}
  void wait() override { done_.get(); }

 private:
  std::shared_future<void> done_;
};

}  // namespace

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

std::shared_ptr<Work> OpQueue::submit(std::function<void()> op) {
  std::packaged_task<void()> task(std::move(op));
  auto work = std::make_shared<FutureWork>(task.get_future().share());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ops_.push_back(std::move(task));
  }
  ready_.notify_one();
  return work;
}

}  // namespace hymask::comm
