#include "comm/nccl/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <thread>

namespace hymask::comm {
namespace {

void check_cuda(cudaError_t code, const char* call) {
  if (code != cudaSuccess)
    throw CommError(std::string(call) + " failed: " + cudaGetErrorString(code));
}

void check_nccl(ncclResult_t code, const char* call) {
  if (code != ncclSuccess && code != ncclInProgress)
    throw CommError(std::string(call) + " failed: " + ncclGetErrorString(code));
}

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return ncclFloat32;
    case torch::kFloat64:
      return ncclFloat64;
    case torch::kFloat16:
      return ncclFloat16;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kInt64:
      return ncclInt64;
    case torch::kInt32:
      return ncclInt32;
    case torch::kUInt8:
      return ncclUint8;
    default:
      throw CommError("the NCCL backend does not support tensors of type " +
                      std::string(c10::toString(t.scalar_type())));
  }
}

class NcclWork : public Work {
 public:
  NcclWork(ncclComm_t comm, cudaEvent_t event, std::string operation, Timeout timeout,
           std::function<void()> after)
      : comm_(comm),
        event_(event),
        operation_(std::move(operation)),
        timeout_(timeout),
        deadline_(std::chrono::steady_clock::now() + timeout),
        after_(std::move(after)) {}
  ~NcclWork() override { cudaEventDestroy(event_); }

  void wait() override {
    for (;;) {
      const cudaError_t state = cudaEventQuery(event_);
      if (state == cudaSuccess) break;
      if (state != cudaErrorNotReady) check_cuda(state, "cudaEventQuery");
      ncclResult_t async_error = ncclSuccess;
      check_nccl(ncclCommGetAsyncError(comm_, &async_error), "ncclCommGetAsyncError");
      check_nccl(async_error, operation_.c_str());
      if (std::chrono::steady_clock::now() > deadline_) {
        ncclCommAbort(comm_);  // releases the stream; the communicator is gone
        throw CollectiveTimeout(operation_, timeout_, {}, {}, false);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    if (after_) after_();
  }

 private:
  ncclComm_t comm_;
  cudaEvent_t event_;
  std::string operation_;
  Timeout timeout_;
  std::chrono::steady_clock::time_point deadline_;
  std::function<void()> after_;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> bootstrap, int device)
      : bootstrap_(std::move(bootstrap)), device_(device) {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    ncclUniqueId id;
    if (bootstrap_->rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    torch::Tensor bytes = torch::from_blob(&id, {int64_t(sizeof(id))}, torch::kUInt8).clone();
    bootstrap_->broadcast(bytes, 0, std::chrono::seconds(120));
    std::memcpy(&id, bytes.data_ptr(), sizeof(id));
    check_nccl(ncclCommInitRank(&comm_, bootstrap_->size(), id, bootstrap_->rank()),
               "ncclCommInitRank");
  }
  ~NcclCommunicator() override {
    if (comm_) ncclCommDestroy(comm_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  std::string backend() const override { return "nccl"; }

  std::shared_ptr<Work> allreduce_async(torch::Tensor tensor, ReduceOp op,
                                        Timeout timeout) override {
    check_tensor(tensor, "allreduce");
    const uint64_t seq = ++sequence_;
    const ncclRedOp_t reduce = op == ReduceOp::kAverage ? ncclAvg : ncclSum;
    // The collective waits for the work queued so far on the current stream (the gradients).
    cudaEvent_t ready;
    check_cuda(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(ready, current_stream()), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
    cudaEventDestroy(ready);
    check_nccl(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), size_t(tensor.numel()),
                             nccl_type(tensor), reduce, comm_, stream_),
               "ncclAllReduce");
    cudaEvent_t done;
    check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(done, stream_), "cudaEventRecord");
    return std::make_shared<NcclWork>(comm_, done,
                                      "nccl allreduce #" + std::to_string(seq) + " (" +
                                          std::to_string(tensor.numel() * tensor.element_size()) +
                                          " bytes)",
                                      timeout, nullptr);
  }

  void broadcast(torch::Tensor tensor, int root, Timeout timeout) override {
    check_tensor(tensor, "broadcast");
    const uint64_t seq = ++sequence_;
    check_nccl(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), size_t(tensor.numel()),
                             nccl_type(tensor), root, comm_, stream_),
               "ncclBroadcast");
    wait_stream("nccl broadcast #" + std::to_string(seq), timeout);
  }

  torch::Tensor allgather(const torch::Tensor& tensor, Timeout timeout) override {
    check_tensor(tensor, "allgather");
    std::vector<int64_t> shape{size()};
    shape.insert(shape.end(), tensor.sizes().begin(), tensor.sizes().end());
    torch::Tensor out = torch::empty(shape, tensor.options());
    const uint64_t seq = ++sequence_;
    check_nccl(ncclAllGather(tensor.data_ptr(), out.data_ptr(), size_t(tensor.numel()),
                             nccl_type(tensor), comm_, stream_),
               "ncclAllGather");
    wait_stream("nccl allgather #" + std::to_string(seq), timeout);
    return out;
  }

  void barrier(Timeout timeout) override { bootstrap_->barrier(timeout); }

 private:
  static void check_tensor(const torch::Tensor& t, const char* operation) {
    if (!t.device().is_cuda())
      throw CommError(std::string("the NCCL backend takes CUDA tensors; ") + operation +
                      " got one on " + t.device().str() + " (use the mpi backend for CPU)");
    if (!t.is_contiguous()) throw CommError(std::string(operation) + " needs a contiguous tensor");
  }

  // Where LibTorch queued the gradients: its default stream, the legacy default stream (hymask
  // sets no other current stream).
  cudaStream_t current_stream() const { return cudaStreamLegacy; }

  void wait_stream(const std::string& operation, Timeout timeout) {
    cudaEvent_t done;
    check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(done, stream_), "cudaEventRecord");
    NcclWork(comm_, done, operation, timeout, nullptr).wait();
  }

  std::unique_ptr<Communicator> bootstrap_;
  int device_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  uint64_t sequence_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> bootstrap,
                                                     int device) {
  return std::make_unique<NcclCommunicator>(std::move(bootstrap), device);
}

}  // namespace hymask::comm
