// The communicator contract on the fake backend (threads as ranks), and the gradient reducer.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

#include "comm/factory.h"
#include "comm/fake/fake_communicator.h"
#include "comm/reducer.h"
#include "core/config.h"

namespace hymask::comm {
namespace {

using namespace std::chrono_literals;

// Runs body(rank, communicator) on `size` threads and rethrows the first failure.
void run_ranks(const std::shared_ptr<FakeWorld>& world,
               const std::function<void(int, Communicator&)>& body) {
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(world->size());
  for (int r = 0; r < world->size(); ++r)
    threads.emplace_back([&, r] {
      try {
        auto comm = world->communicator(r);
        body(r, *comm);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

TEST(FakeCommunicator, CollectivesComputeTheRightValues) {
  auto world = FakeWorld::create(3);
  run_ranks(world, [](int rank, Communicator& comm) {
    torch::Tensor t = torch::full({4}, double(rank + 1), torch::kFloat64);
    comm.allreduce(t, ReduceOp::kSum, 5s);
    EXPECT_TRUE(t.equal(torch::full({4}, 6.0, torch::kFloat64)));
    comm.allreduce(t, ReduceOp::kAverage, 5s);
    EXPECT_TRUE(t.equal(torch::full({4}, 6.0, torch::kFloat64)));
    torch::Tensor b = torch::full({2}, double(rank * 10));
    comm.broadcast(b, 2, 5s);
    EXPECT_TRUE(b.equal(torch::full({2}, 20.0)));
    const torch::Tensor g = comm.allgather(torch::tensor({rank}), 5s);
    EXPECT_TRUE(g.view({-1}).equal(torch::tensor({0, 1, 2})));
    comm.barrier(5s);
  });
}

TEST(FakeCommunicator, ADeadRankIsNamedWithinTheTimeout) {
  auto world = FakeWorld::create(3);
  world->fail(1);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> messages(3);
  run_ranks(world, [&](int rank, Communicator& comm) {
    torch::Tensor t = torch::ones({8});
    try {
      comm.allreduce(t, ReduceOp::kSum, 300ms);
    } catch (const CollectiveTimeout& e) {
      EXPECT_EQ(e.missing(), std::vector<int>{1});
      messages[rank] = e.what();
    } catch (const CommError& e) {
      messages[rank] = e.what();
    }
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  EXPECT_NE(messages[0].find("allreduce #0"), std::string::npos) << messages[0];
  EXPECT_NE(messages[0].find("rank 1 never reached it"), std::string::npos) << messages[0];
  EXPECT_NE(messages[2].find("rank 1 never reached it"), std::string::npos) << messages[2];
  EXPECT_NE(messages[1].find("failed (injected)"), std::string::npos) << messages[1];
}

TEST(FakeCommunicator, ASlowRankWithinTheTimeoutIsWaitedFor) {
  auto world = FakeWorld::create(2);
  world->set_delay(0, 100ms);
  run_ranks(world, [](int rank, Communicator& comm) {
    torch::Tensor t = torch::ones({3});
    comm.allreduce(t, ReduceOp::kSum, 5s);
    EXPECT_TRUE(t.equal(torch::full({3}, 2.0)));
  });
}

// A little network whose gradients differ per rank (different inputs).
struct Net : torch::nn::Module {
  Net() {
    a = register_module("a", torch::nn::Linear(6, 5));
    b = register_module("b", torch::nn::Linear(5, 4));
    c = register_module("c", torch::nn::Linear(4, 1));
  }
  torch::Tensor forward(torch::Tensor x) { return c(torch::tanh(b(torch::tanh(a(x))))); }
  torch::nn::Linear a{nullptr}, b{nullptr}, c{nullptr};
};

// One rank alone: the collectives of a world of one, as the fake world of size 1 computes them.
TEST(SelfCommunicator, IsAWorldOfOne) {
  LaunchInfo alone;
  const std::unique_ptr<Communicator> self = make_communicator(Backend::kAuto, alone);
  EXPECT_EQ(self->backend(), "self");
  auto world = FakeWorld::create(1);
  const std::unique_ptr<Communicator> fake = world->communicator(0);
  for (Communicator* comm : {self.get(), fake.get()}) {
    torch::Tensor t = torch::tensor({1.5, -2.0}, torch::kFloat64);
    comm->allreduce(t, ReduceOp::kSum, 1s);
    comm->allreduce(t, ReduceOp::kAverage, 1s);
    EXPECT_TRUE(t.equal(torch::tensor({1.5, -2.0}, torch::kFloat64))) << comm->backend();
    comm->broadcast(t, 0, 1s);
    const torch::Tensor g = comm->allgather(torch::tensor({7, 8}), 1s);
    EXPECT_EQ(g.sizes(), (std::vector<int64_t>{1, 2})) << comm->backend();
    EXPECT_TRUE(g[0].equal(torch::tensor({7, 8})));
    comm->barrier(1s);
  }
  EXPECT_EQ(load_config("", {"train.backend=mpi"}).train.backend, Backend::kMpi);
  EXPECT_THROW(load_config("", {"train.backend=gloo"}), ConfigError);
}

// A process's communicators follow its device: alone on the CPU, one self communicator and no
// second one; nccl for CPU training and mpi for CUDA training among ranks are refused up front.
TEST(TrainingCommunicators, FollowTheDevice) {
  LaunchInfo alone;
  const TrainingCommunicators cpu = make_training_communicators(Backend::kAuto, false, alone);
  EXPECT_EQ(cpu.control->backend(), "self");
  EXPECT_EQ(cpu.gradients, nullptr);
  const TrainingCommunicators gpu_alone = make_training_communicators(Backend::kAuto, true, alone);
  EXPECT_EQ(gpu_alone.gradients, nullptr);  // nothing to average
  EXPECT_THROW(make_training_communicators(Backend::kNccl, false, alone), ConfigError);
  LaunchInfo two;
  two.size = 2;
  two.launcher = "mpirun";
  EXPECT_THROW(make_training_communicators(Backend::kMpi, true, two), ConfigError);
}

TEST(Reducer, AveragesGradientsAcrossRanksInSeveralBuckets) {
  const int size = 3;
  auto world = FakeWorld::create(size);
  // All starting values are drawn here, on one thread: the global generator is shared, so seeding
  // it inside the rank threads would race (rank 0 could draw numbers meant for another rank).
  torch::manual_seed(1);
  const auto reference = std::make_shared<Net>();
  std::vector<std::shared_ptr<Net>> nets;
  for (int r = 0; r < size; ++r) {
    torch::manual_seed(100 + r);  // different initial values: broadcast must fix them
    nets.push_back(std::make_shared<Net>());
  }
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < reference->parameters().size(); ++i)
      nets[0]->parameters()[i].copy_(reference->parameters()[i]);
  }
  // Expected: the mean of the per-rank gradients, each computed alone on the reference.
  std::vector<torch::Tensor> expected;
  for (int r = 0; r < size; ++r) {
    reference->zero_grad();
    reference->forward(torch::full({2, 6}, 0.1 * (r + 1))).sum().backward();
    for (size_t i = 0; i < reference->parameters().size(); ++i) {
      const torch::Tensor g = reference->parameters()[i].grad().clone() / size;
      if (expected.size() <= i)
        expected.push_back(g);
      else
        expected[i] += g;
    }
  }
  run_ranks(world, [&](int rank, Communicator& comm) {
    const auto& net = nets[rank];
    {  // a reducer that is gone leaves no hook behind
      Reducer earlier(net->parameters(), comm, 1 << 20, 5s);
    }
    Reducer reducer(net->parameters(), comm, 64, 5s);  // 64 bytes: many buckets
    EXPECT_GT(reducer.num_buckets(), 3u);
    reducer.broadcast_parameters();
    for (int step = 0; step < 2; ++step) {
      net->zero_grad();
      net->forward(torch::full({2, 6}, 0.1 * (rank + 1))).sum().backward();
      reducer.finish();
      for (size_t i = 0; i < net->parameters().size(); ++i)
        EXPECT_TRUE(torch::allclose(net->parameters()[i].grad(), expected[i], 1e-6, 1e-7))
            << "rank " << rank << " parameter " << i;
    }
  });
}

}  // namespace
}  // namespace hymask::comm

#ifdef HYMASK_WITH_NCCL
#include "comm/nccl/nccl_communicator.h"

namespace hymask::comm {
namespace {

TEST(NcclCommunicator, ReducesCudaTensorsAndRefusesCpuOnes) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU (or LibTorch without CUDA)";
  auto world = FakeWorld::create(1);  // one rank: the bootstrap only carries the unique id
  auto nccl = make_nccl_communicator(world->communicator(0), 0);
  torch::Tensor t = torch::arange(1000, torch::TensorOptions().device(torch::kCUDA));
  const torch::Tensor before = t.clone();
  nccl->allreduce(t, ReduceOp::kAverage, 10s);
  EXPECT_TRUE(t.equal(before));
  torch::Tensor b = torch::ones({4}, torch::TensorOptions().device(torch::kCUDA));
  nccl->broadcast(b, 0, 10s);
  EXPECT_TRUE(b.cpu().equal(torch::ones({4})));
  EXPECT_THROW(nccl->allreduce(torch::ones({2}), ReduceOp::kSum, 1s), CommError);
}

}  // namespace
}  // namespace hymask::comm
#endif
