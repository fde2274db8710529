// Data parallelism changes nothing but the speed: `mpirun -np N hymask-worker` with per-rank batch
// B ends with the same parameters as one process with batch N x B over the same samples and the
// same masking draws. Exact in theory for this configuration: no BatchNorm (its batch statistics
// would be per rank), k = 1 (mixing partners come from a rank's own batch), the same seed, and
// data.shards = N in the single process, so that its step t batch is the union of the ranks'.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#include "tests/test_util.h"
#include "worker/trainer.h"

namespace hymask {
namespace {

std::string common_args() {
  return "data.synthetic_identities=6 data.synthetic_images_per_identity=12 data.image_size=32 "
         "train.batch_size=4 train.epochs=3 train.threads=1 model.embedding=32 model.scale=16 "
         "model.margin=0.2 mask.method=mask model.batchnorm=false train.stop_after=5 "
         "train.checkpoint_every=0 train.log_every=1 train.comm_timeout_s=60";
}

std::vector<torch::Tensor> parameters_of(const std::filesystem::path& checkpoint) {
  const Config config = checkpoint_config(checkpoint);
  const Masker masker = make_masker(config);
  FaceModel model(config, masker, config.data.synthetic_identities);
  load_checkpoint_model(checkpoint, model);
  return model.parameters();
}

class MpiEquivalence : public ::testing::TestWithParam<int> {};

TEST_P(MpiEquivalence, RanksEqualOneProcessWithTheirBatchesTogether) {
  if (std::system("command -v mpirun > /dev/null") != 0) GTEST_SKIP() << "mpirun not found";
  const int ranks = GetParam();
  testing::TempDir dir;
  const std::string bin = HYMASK_BIN_DIR;
  const std::string parallel =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np " +
      std::to_string(ranks) + " " + bin + "/hymask-worker --no-eval --out " +
      (dir.path() / "parallel").string() + " " + common_args() + " > " +
      (dir.path() / "parallel.log").string() + " 2>&1";
  const std::string single = bin + "/hymask train --no-eval --out " +
                             (dir.path() / "single").string() + " " + common_args() +
                             " data.shards=" + std::to_string(ranks) + " > " +
                             (dir.path() / "single.log").string() + " 2>&1";
  ASSERT_EQ(std::system(parallel.c_str()), 0) << "see " << parallel;
  ASSERT_EQ(std::system(single.c_str()), 0) << "see " << single;
  const auto a = parameters_of(dir.path() / "parallel" / "checkpoint.pt");
  const auto b = parameters_of(dir.path() / "single" / "checkpoint.pt");
  ASSERT_EQ(a.size(), b.size());
  double worst = 0, moved = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, ((a[i] - b[i]).norm() / b[i].norm()).item<double>());
    moved += a[i].abs().sum().item<double>();
  }
  EXPECT_LT(worst, 1e-5) << "largest relative parameter difference after 5 steps";
  EXPECT_GT(moved, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Ranks, MpiEquivalence, ::testing::Values(2, 3));

}  // namespace
}  // namespace hymask
