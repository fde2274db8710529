#include "comm/mpi/mpi_communicator.h"

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "comm/op_queue.h"

namespace hymask::comm {
namespace {

constexpr int kArrivalTag = 7;
constexpr int kHeartbeatTag = 8;
constexpr auto kHeartbeat = std::chrono::milliseconds(200);
// A rank silent for this long is reported as not responding.
constexpr auto kSilence = std::chrono::milliseconds(1000);

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw CommError(std::string(call) + " failed: " + std::string(text, length));
}

MPI_Datatype datatype(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return MPI_FLOAT;
    case torch::kFloat64:
      return MPI_DOUBLE;
    case torch::kInt64:
      return MPI_INT64_T;
    case torch::kInt32:
      return MPI_INT32_T;
    case torch::kUInt8:
      return MPI_UINT8_T;
    default:
      throw CommError("the MPI backend does not support tensors of type " +
                      std::string(c10::toString(t.scalar_type())));
  }
}

void check_tensor(const torch::Tensor& t, const char* operation) {
  if (!t.device().is_cpu())
    throw CommError(std::string("the MPI backend takes CPU tensors; ") + operation +
                    " got one on " + t.device().str() + " (use the nccl backend for CUDA)");
  if (!t.is_contiguous()) throw CommError(std::string(operation) + " needs a contiguous tensor");
}

class MpiCommunicator;

class MpiWork : public Work {
 public:
  MpiWork(std::shared_future<void> done, MpiCommunicator* owner, uint64_t seq,
          std::string operation, Timeout timeout)
      : done_(std::move(done)),
        owner_(owner),
        seq_(seq),
        operation_(std::move(operation)),
        timeout_(timeout),
        deadline_(std::chrono::steady_clock::now() + timeout) {}
  void wait() override;

 private:
  std::shared_future<void> done_;
  MpiCommunicator* owner_;
  uint64_t seq_;
  std::string operation_;
  Timeout timeout_;
  std::chrono::steady_clock::time_point deadline_;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    int provided = 0;
    if (!initialised) {
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
    } else {
      MPI_Query_thread(&provided);
    }
    if (provided < MPI_THREAD_MULTIPLE)
      throw CommError("this MPI library lacks MPI_THREAD_MULTIPLE, which the mpi backend needs");
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_dup(MPI_COMM_WORLD, &notes_);
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(notes_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    last_note_.assign(size_, 0);
    last_heard_.assign(size_, std::chrono::steady_clock::now());
    queue_ = std::make_unique<OpQueue>();
    heartbeat_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(notes_mutex_);
      while (!stopping_) {
        send_notes(kHeartbeatTag, 0);
        drain_notes();
        heartbeat_wake_.wait_for(lock, kHeartbeat);
      }
    });
  }

  ~MpiCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(notes_mutex_);
      stopping_ = true;
    }
    heartbeat_wake_.notify_all();
    heartbeat_.join();
    queue_.reset();  // finishes what is in flight
    for (auto& note : notes_in_flight_) MPI_Request_free(&note.request);
    MPI_Comm_free(&notes_);
    MPI_Comm_free(&comm_);
    if (owns_mpi_) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  std::shared_ptr<Work> allreduce_async(torch::Tensor tensor, ReduceOp op,
                                        Timeout timeout) override {
    check_tensor(tensor, "allreduce");
    return submit(describe("allreduce", tensor), timeout, [=, this]() mutable {
      check(MPI_Allreduce(MPI_IN_PLACE, tensor.data_ptr(), int(tensor.numel()), datatype(tensor),
                          MPI_SUM, comm_),
            "MPI_Allreduce");
      if (op == ReduceOp::kAverage) tensor.div_(size_);
    });
  }

  void broadcast(torch::Tensor tensor, int root, Timeout timeout) override {
    check_tensor(tensor, "broadcast");
    submit(describe("broadcast", tensor), timeout, [&] {
      check(MPI_Bcast(tensor.data_ptr(), int(tensor.numel()), datatype(tensor), root, comm_),
            "MPI_Bcast");
    })->wait();
  }

  torch::Tensor allgather(const torch::Tensor& tensor, Timeout timeout) override {
    check_tensor(tensor, "allgather");
    std::vector<int64_t> shape{size_};
    shape.insert(shape.end(), tensor.sizes().begin(), tensor.sizes().end());
    torch::Tensor out = torch::empty(shape, tensor.options());
    submit(describe("allgather", tensor), timeout, [&] {
      check(MPI_Allgather(tensor.data_ptr(), int(tensor.numel()), datatype(tensor), out.data_ptr(),
                          int(tensor.numel()), datatype(tensor), comm_),
            "MPI_Allgather");
    })->wait();
    return out;
  }

  void barrier(Timeout timeout) override {
    submit("barrier", timeout, [&] { check(MPI_Barrier(comm_), "MPI_Barrier"); })->wait();
  }

  // The failure of collective `seq`: the ranks that never reached it, and those that reached it
  // but fell silent. Marks the communicator broken (the ranks no longer agree on what is next).
  CollectiveTimeout timeout_of(uint64_t seq, const std::string& operation, Timeout timeout) {
    std::lock_guard<std::mutex> lock(notes_mutex_);
    broken_ = true;
    drain_notes();
    const auto now = std::chrono::steady_clock::now();
    std::vector<int> missing, silent;
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      if (last_note_[r] < seq)
        missing.push_back(r);
      else if (now - last_heard_[r] > kSilence)
        silent.push_back(r);
    }
    return CollectiveTimeout(operation, timeout, missing, silent);
  }

 private:
  struct Note {
    MPI_Request request;
    std::unique_ptr<uint64_t> value;
  };

  static std::string describe(const char* op, const torch::Tensor& t) {
    return std::string(op) + " (" + std::to_string(t.numel() * t.element_size()) + " bytes)";
  }

  std::shared_ptr<Work> submit(const std::string& what, Timeout timeout,
                               std::function<void()> collective) {
    const uint64_t seq = ++sequence_;
    const std::string operation =
        what.substr(0, what.find(' ')) + " #" + std::to_string(seq) +
        (what.find(' ') == std::string::npos ? "" : what.substr(what.find(' ')));
    auto done = queue_->submit([this, seq, operation, collective = std::move(collective)] {
      {
        std::lock_guard<std::mutex> lock(notes_mutex_);
        if (broken_)
          throw CommError(operation +
                          " not started: an earlier collective failed, so the ranks "
                          "no longer agree on what comes next");
        send_notes(kArrivalTag, seq);
        last_note_[rank_] = seq;
        drain_notes();
      }
      collective();
    });
    return std::make_shared<MpiWork>(std::move(done), this, seq, operation, timeout);
  }

  // Sends `value` with `tag` to every other rank (notes mutex held): "arrived at collective
  // #value" or a heartbeat.
  void send_notes(int tag, uint64_t value) {
    for (int peer = 0; peer < size_; ++peer) {
      if (peer == rank_) continue;
      Note note{MPI_REQUEST_NULL, std::make_unique<uint64_t>(value)};
      MPI_Isend(note.value.get(), 1, MPI_UINT64_T, peer, tag, notes_, &note.request);
      notes_in_flight_.push_back(std::move(note));
    }
  }

  // Receives arrival notes and heartbeats, and retires sent ones (notes mutex held).
  void drain_notes() {
    for (;;) {
      int flag = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, notes_, &flag, &status);
      if (!flag) break;
      uint64_t value = 0;
      MPI_Recv(&value, 1, MPI_UINT64_T, status.MPI_SOURCE, status.MPI_TAG, notes_,
               MPI_STATUS_IGNORE);
      const int from = status.MPI_SOURCE;
      last_heard_[from] = std::chrono::steady_clock::now();
      if (status.MPI_TAG == kArrivalTag) last_note_[from] = std::max(last_note_[from], value);
    }
    while (!notes_in_flight_.empty()) {
      int done = 0;
      MPI_Test(&notes_in_flight_.front().request, &done, MPI_STATUS_IGNORE);
      if (!done) break;
      notes_in_flight_.pop_front();
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL, notes_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool owns_mpi_ = false;
  std::atomic<uint64_t> sequence_{0};
  std::mutex notes_mutex_;
  bool broken_ = false;
  bool stopping_ = false;
  std::vector<uint64_t> last_note_;
  std::vector<std::chrono::steady_clock::time_point> last_heard_;
  std::deque<Note> notes_in_flight_;
  std::condition_variable heartbeat_wake_;
  std::thread heartbeat_;
  std::unique_ptr<OpQueue> queue_;
};

void MpiWork::wait() {
  // The helper runs the collective; this thread only watches the clock.
  if (done_.wait_until(deadline_) == std::future_status::ready) return done_.get();
  throw owner_->timeout_of(seq_, operation_, timeout_);
}

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() {
  return std::make_unique<MpiCommunicator>();
}

}  // namespace hymask::comm
