// Data-parallel communication, measured: run under mpirun.
//   mpirun -np 2 build/bin/bench_comm [--mb 12]
// 1. Bus bandwidth (nccl-tests: busbw = bytes / time * 2(n-1)/n) of hymask's MPI communicator
//    against raw MPI_Allreduce of the same bytes.
// 2. How much of the gradient all-reduce the reducer hides behind backward, for several bucket
//    sizes, on the CPU model (resnet-s at the shape u = 1 masking gives, 423 classes as LFW).
#include <mpi.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "comm/mpi/mpi_communicator.h"
#include "comm/reducer.h"
#include "core/nn/backbone.h"
#include "core/nn/margin.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  double mb = 12;
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--mb")) mb = std::atof(argv[i + 1]);
  torch::set_num_threads(1);
  auto comm = hymask::comm::make_mpi_communicator();
  const int rank = comm->rank(), n = comm->size();
  const auto timeout = std::chrono::seconds(120);
  const bool leader = rank == 0;

  // 1. Bus bandwidth.
  const int64_t count = int64_t(mb * (1 << 20) / 4);
  torch::Tensor buffer = torch::ones({count});
  const int repeats = 20;
  auto busbw = [&](double time) { return count * 4.0 / time * 2.0 * (n - 1) / n / 1e9; };
  comm->barrier(timeout);
  for (int i = 0; i < 3; ++i)
    MPI_Allreduce(MPI_IN_PLACE, buffer.data_ptr(), int(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  auto start = Clock::now();
  for (int i = 0; i < repeats; ++i)
    MPI_Allreduce(MPI_IN_PLACE, buffer.data_ptr(), int(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  const double raw = seconds_since(start) / repeats;
  start = Clock::now();
  for (int i = 0; i < repeats; ++i) {
    MPI_Request request;
    MPI_Iallreduce(MPI_IN_PLACE, buffer.data_ptr(), int(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                   &request);
    MPI_Wait(&request, MPI_STATUS_IGNORE);
  }
  const double raw_nonblocking = seconds_since(start) / repeats;
  comm->barrier(timeout);
  for (int i = 0; i < 3; ++i) comm->allreduce(buffer, hymask::comm::ReduceOp::kSum, timeout);
  start = Clock::now();
  for (int i = 0; i < repeats; ++i) comm->allreduce(buffer, hymask::comm::ReduceOp::kSum, timeout);
  const double ours = seconds_since(start) / repeats;
  if (leader)
    std::printf(
        "allreduce of %.1f MB over %d ranks:\n"
        "  raw MPI_Allreduce      %7.2f ms  busbw %.2f GB/s\n"
        "  raw MPI_Iallreduce     %7.2f ms  busbw %.2f GB/s\n"
        "  hymask mpi backend     %7.2f ms  busbw %.2f GB/s  (%.0f%% of MPI_Allreduce)\n",
        mb, n, raw * 1e3, busbw(raw), raw_nonblocking * 1e3, busbw(raw_nonblocking), ours * 1e3,
        busbw(ours), 100 * raw / ours);

  // 2. Overlap with backward.
  hymask::nn::BackboneOptions o{"resnet-s", 63, 14, 512};
  auto net = hymask::nn::make_backbone(o);
  hymask::nn::MarginHead head(512, 423, hymask::nn::MarginOptions{});
  std::vector<torch::Tensor> params = net->parameters();
  for (auto& p : head->parameters()) params.push_back(p);
  int64_t total = 0;
  for (auto& p : params) total += p.numel();
  const torch::Tensor x = torch::randn({64, 63, 14, 14});
  const torch::Tensor labels = torch::randint(0, 423, {64, 1});
  const torch::Tensor weights = torch::ones({64, 1});
  auto step = [&] {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    head->loss(net->forward(x), labels, weights).backward();
  };
  // No overlap: backward, then one all-reduce of every gradient.
  const int steps = 8;
  double compute = 0, communicate = 0;
  for (int s = 0; s < steps + 1; ++s) {
    auto t0 = Clock::now();
    step();
    const double c = seconds_since(t0);
    std::vector<torch::Tensor> grads;
    for (auto& p : params) grads.push_back(p.grad().view({-1}));
    torch::Tensor flat = torch::cat(grads);
    t0 = Clock::now();
    comm->allreduce(flat, hymask::comm::ReduceOp::kAverage, timeout);
    if (s > 0) compute += c / steps, communicate += seconds_since(t0) / steps;
  }
  if (leader)
    std::printf(
        "\nmodel: resnet-s 63x14x14 + ArcFace 423 classes, %.1f M parameters (%.1f MB), "
        "batch 64 per rank\nforward+backward %.1f ms; all-reduce after backward %.1f ms\n\n"
        "%10s %8s %14s %14s %12s\n",
        total / 1e6, total * 4 / 1e6, compute * 1e3, communicate * 1e3, "bucket MB", "buckets",
        "step ms", "exposed ms", "hidden");
  for (double bucket_mb : {0.25, 1.0, 4.0, 25.0}) {
    hymask::comm::Reducer reducer(params, *comm, size_t(bucket_mb * (1 << 20)), timeout);
    double exposed = 0, total_step = 0;
    for (int s = 0; s < steps + 1; ++s) {
      const auto t0 = Clock::now();
      step();
      reducer.finish();
      if (s > 0) {
        exposed += reducer.last_stats().exposed_seconds / steps;
        total_step += seconds_since(t0) / steps;
      }
    }
    if (leader)
      std::printf("%10.2f %8zu %14.1f %14.1f %11.0f%%\n", bucket_mb, reducer.num_buckets(),
                  total_step * 1e3, exposed * 1e3, 100 * std::max(0.0, 1 - exposed / communicate));
  }
  return 0;
}
