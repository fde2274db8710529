#include "comm/self/self_communicator.h"

namespace hymask::comm {

namespace {

class DoneWork : public Work {
 public:
  void wait() override {}
};

class SelfCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "self"; }
  // The sum and the mean over one rank are the tensor itself.
  std::shared_ptr<Work> allreduce_async(torch::Tensor, ReduceOp, Timeout) override {
    return std::make_shared<DoneWork>();
  }
  void broadcast(torch::Tensor, int root, Timeout) override {
    HYMASK_CHECK(root == 0, "broadcast from rank ", root, " of a one-rank communicator");
  }
  torch::Tensor allgather(const torch::Tensor& tensor, Timeout) override {
    return tensor.unsqueeze(0).clone();
  }
  void barrier(Timeout) override {}
};

}  // namespace

std::unique_ptr<Communicator> make_self_communicator() {
  return std::make_unique<SelfCommunicator>();
}

}  // namespace hymask::comm
