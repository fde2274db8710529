// A run's checkpoint: one LibTorch archive, written atomically, that holds everything a run needs
// to resume exactly (worker/trainer.h says what). Every reader goes through open_checkpoint, which
// verifies each member against its CRC-32 and the archive's format before anything is trusted.
// The checkpoint before the last is kept as checkpoint-previous.pt, so that a damaged file
// (a disk error, a copy cut short) costs at most one checkpoint interval.
#pragma once

#include <torch/serialize/archive.h>

#include <array>
#include <filesystem>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/nn/policy.h"
#include "worker/face_model.h"

namespace hymask {

constexpr int64_t kCheckpointFormat = 1;

std::filesystem::path checkpoint_path(const std::filesystem::path& run_dir);
std::filesystem::path previous_checkpoint_path(const std::filesystem::path& run_dir);

// Writes `archive` as run_dir's checkpoint; the one it replaces becomes the previous checkpoint.
void write_checkpoint(const std::filesystem::path& run_dir,
                      torch::serialize::OutputArchive& archive);

// Verifies and loads a checkpoint file. A damaged or foreign file is an Error naming it, and
// saying whether an intact previous checkpoint is there to fall back on.
torch::serialize::InputArchive open_checkpoint(const std::filesystem::path& checkpoint);

// The config a checkpoint was trained with.
Config checkpoint_config(const std::filesystem::path& checkpoint);

// The number of identities a checkpoint's classifier head was trained on (to build its model
// without opening the training data).
int checkpoint_classes(const std::filesystem::path& checkpoint);

// Loads the model weights of a checkpoint into `model`.
void load_checkpoint_model(const std::filesystem::path& checkpoint, FaceModel& model);

// The trained policy of an adaptive run's checkpoint, and the state its training ended in.
struct TrainedPolicy {
  std::shared_ptr<nn::Policy> policy;
  std::array<float, nn::kStateSize> state{};
};
TrainedPolicy load_checkpoint_policy(const std::filesystem::path& checkpoint, const Config& config);

// Text stored in an archive as a uint8 tensor, and back.
torch::Tensor string_tensor(const std::string& text);
std::string tensor_string(const torch::Tensor& tensor);

}  // namespace hymask
