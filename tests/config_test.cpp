#include "core/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "core/npy.h"
#include "tests/test_util.h"

namespace hymask {
namespace {

std::string write_yaml(const testing::TempDir& dir, const std::string& text) {
  const std::string path = (dir.path() / "c.yaml").string();
  std::ofstream(path) << text;
  return path;
}

std::string config_error(const std::string& path, const std::vector<std::string>& overrides = {}) {
  try {
    load_config(path, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ReadsNestedKeysAndOverrides) {
  testing::TempDir dir;
  const std::string path =
      write_yaml(dir, "seed: 9\nmask:\n  method: instahide\n  k: 4\ndata:\n  color: ycbcr\n");
  const Config c = load_config(path, {"mask.k=3", "mask.sign_flip=true"});
  EXPECT_EQ(c.seed, 9u);
  EXPECT_EQ(c.mask.method, "instahide");
  EXPECT_EQ(c.mask.k, 3);
  EXPECT_TRUE(c.mask.sign_flip);
  EXPECT_EQ(c.data.color, "ycbcr");
  EXPECT_EQ(c.data.image_size, 112);  // default kept
}

TEST(Config, UnknownKeyIsAnErrorNamingKeyAndFile) {
  testing::TempDir dir;
  const std::string path = write_yaml(dir, "mask:\n  kk: 4\n");
  const std::string e = config_error(path);
  EXPECT_NE(e.find("unknown key 'mask.kk'"), std::string::npos) << e;
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("mask.k"), std::string::npos) << "should list the known keys: " << e;
}

TEST(Config, IllTypedAndOutOfRangeValuesAreErrors) {
  testing::TempDir dir;
  std::string e = config_error(write_yaml(dir, "mask:\n  k: four\n"));
  EXPECT_NE(e.find("key 'mask.k'"), std::string::npos) << e;
  EXPECT_NE(e.find("expected an integer, got 'four'"), std::string::npos) << e;
  e = config_error(write_yaml(dir, "mask:\n  upsample: 3\n"));
  EXPECT_NE(e.find("mask.upsample"), std::string::npos) << e;
  e = config_error(write_yaml(dir, "mask:\n  method: magic\n"));
  EXPECT_NE(e.find("mask.method"), std::string::npos) << e;
  e = config_error(write_yaml(dir, "seed: -1\n"));
  EXPECT_NE(e.find("non-negative integer"), std::string::npos) << e;
  e = config_error(write_yaml(dir, "data: 3\n"));
  EXPECT_NE(e.find("unknown key 'data'"), std::string::npos) << e;
  e = config_error("", {"mask.k"});
  EXPECT_NE(e.find("key=value"), std::string::npos) << e;
  e = config_error((dir.path() / "missing.yaml").string());
  EXPECT_NE(e.find("cannot read config file"), std::string::npos) << e;
  e = config_error(write_yaml(dir, "mask: [1, 2\n"));
  EXPECT_NE(e.find("not valid YAML"), std::string::npos) << e;
}

TEST(Config, EnumeratedOptionsAreParsedOnceIntoTypedValues) {
  const Config c = load_config("", {"train.precision=bf16", "data.on_bad_file=fail",
                                    "train.backend=nccl", "train.device=cpu"});
  EXPECT_EQ(c.train.precision, Precision::kBf16);
  EXPECT_EQ(c.data.on_bad_file, BadFilePolicy::kFail);
  EXPECT_EQ(c.train.backend, Backend::kNccl);
  EXPECT_EQ(c.train.device, DeviceChoice::kCpu);
  // A wrong name is refused where it is read, with the key and every choice.
  const std::string e = config_error("", {"train.precision=fp16"});
  EXPECT_NE(e.find("key 'train.precision'"), std::string::npos) << e;
  EXPECT_NE(e.find("must be fp32 or bf16, not 'fp16'"), std::string::npos) << e;
  EXPECT_NE(config_error("", {"train.device=tpu"}).find("auto, cpu or cuda"), std::string::npos);
  // The config hymask writes holds the names, and reads back to the same values.
  const Config back = config_from_yaml(config_to_yaml(c), "written");
  EXPECT_EQ(back.train.precision, Precision::kBf16);
  EXPECT_EQ(back.data.on_bad_file, BadFilePolicy::kFail);
  EXPECT_NE(config_to_yaml(c).find("precision: \"bf16\""), std::string::npos);
}

TEST(Config, ResolvedYamlReadsBackToTheSameConfig) {
  testing::TempDir dir;
  const Config c = load_config("", {"mask.k=5", "data.root=/some/where", "mask.weight_cap=0.5"});
  const std::string yaml = config_to_yaml(c);
  EXPECT_NE(yaml.find("# Samples mixed"), std::string::npos);
  const Config back = load_config(write_yaml(dir, yaml));
  EXPECT_EQ(config_to_yaml(back, false), config_to_yaml(c, false));
}

// An adaptive run's cap binds the policy's largest mixture, not mask.k (which it does not mix
// with): a cap of 1/3 under k_max = 3 mixes every action equally.
TEST(Config, AdaptiveWeightCapIsBoundedByTheLargestMixtureThePolicyDraws) {
  const Config c = load_config(
      "", {"mask.method=adaptive", "policy.k_max=3", "mask.weight_cap=0.3333333333"});
  EXPECT_NEAR(c.mask.weight_cap, 1.0 / 3, 1e-9);
  const std::string error =
      config_error("", {"mask.method=adaptive", "policy.k_max=2", "mask.weight_cap=0.34"});
  EXPECT_NE(error.find("mask.weight_cap"), std::string::npos) << error;
  EXPECT_NE(error.find("k = policy.k_max (2)"), std::string::npos) << error;
  EXPECT_NE(config_error("", {"mask.k=3", "mask.weight_cap=0.3"}).find("k = mask.k (3)"),
            std::string::npos);
}

TEST(Npy, HeaderIsAlignedAndShapeRewritable) {
  const std::string h = npy_header("<f4", {3, 2});
  EXPECT_EQ(h.size() % 64, 0u);
  EXPECT_EQ(h.substr(1, 5), "NUMPY");
  EXPECT_NE(h.find("'shape': (3, 2)"), std::string::npos) << h;
  EXPECT_NE(npy_header("<i8", {7}).find("'shape': (7, )"), std::string::npos);

  testing::TempDir dir;
  NpyWriter writer(dir.path() / "a.npy", "<f4", {100, 2});
  const float data[4] = {1, 2, 3, 4};
  writer.write(data, sizeof(data));
  writer.commit(2);  // only 2 of the 100 promised rows came
  std::ifstream in(dir.path() / "a.npy", std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(content.find("'shape': (2, 2)"), std::string::npos);
  EXPECT_EQ(content.size(), h.size() + sizeof(data));
}

}  // namespace
}  // namespace hymask
