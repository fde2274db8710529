// The communicator: a narrow interface of collectives on tensors, with backends chosen at run time
// (the shape of gloo's and c10d's):
//   mpi   OpenMPI, CPU tensors                       (comm/mpi/)
//   nccl  NCCL, CUDA tensors; unique id sent over MPI (comm/nccl/, built when CUDA and NCCL exist)
//   fake  threads as ranks in one process, can be made slow or fail (comm/fake/, for tests)
//
// Every collective has a timeout. A collective that does not complete in time (a rank died or
// hangs) throws CollectiveTimeout on every surviving rank, naming the operation and the ranks that
// never reached it: no silent hang. After a timeout the communicator is unusable; the process
// should report and exit.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace hymask::comm {

using Timeout = std::chrono::milliseconds;

enum class ReduceOp { kSum, kAverage };

class CommError : public Error {
 public:
  using Error::Error;
};

class CollectiveTimeout : public CommError {
 public:
  // `missing`: the ranks that never reached the operation; `silent`: ranks that reached it but
  // then stopped responding (died or hang inside it); `known`: whether the backend can tell.
  CollectiveTimeout(const std::string& operation, Timeout timeout, std::vector<int> missing,
                    std::vector<int> silent = {}, bool known = true);
  const std::vector<int>& missing() const { return missing_; }
  const std::vector<int>& silent() const { return silent_; }

 private:
  std::vector<int> missing_;
  std::vector<int> silent_;
};

// A collective in flight (c10d's Work).
class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the collective is done; rethrows its failure (CollectiveTimeout included).
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;

  // In place on a contiguous tensor; completes (or times out) asynchronously.
  virtual std::shared_ptr<Work> allreduce_async(torch::Tensor tensor, ReduceOp op,
                                                Timeout timeout) = 0;
  virtual void broadcast(torch::Tensor tensor, int root, Timeout timeout) = 0;
  // Returns size() x tensor's shape, rank r's tensor at index r.
  virtual torch::Tensor allgather(const torch::Tensor& tensor, Timeout timeout) = 0;
  virtual void barrier(Timeout timeout) = 0;

  void allreduce(torch::Tensor tensor, ReduceOp op, Timeout timeout) {
    allreduce_async(std::move(tensor), op, timeout)->wait();
  }
};

}  // namespace hymask::comm
