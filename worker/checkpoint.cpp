#include "worker/checkpoint.h"

#include <torch/serialize.h>

#include <sstream>

#include "core/archive_check.h"
#include "core/error.h"
#include "core/files.h"

namespace hymask {
namespace fs = std::filesystem;

fs::path checkpoint_path(const fs::path& run_dir) {
  return run_dir / "checkpoint.pt";
}

fs::path previous_checkpoint_path(const fs::path& run_dir) {
  return run_dir / "checkpoint-previous.pt";
}

torch::Tensor string_tensor(const std::string& text) {
  return torch::from_blob(const_cast<char*>(text.data()), {int64_t(text.size())}, torch::kUInt8)
      .clone();
}

std::string tensor_string(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), size_t(c.numel()));
}

void write_checkpoint(const fs::path& run_dir, torch::serialize::OutputArchive& archive) {
  archive.write("format", torch::tensor(kCheckpointFormat));
  std::ostringstream bytes;
  archive.save_to(bytes);
  const fs::path current = checkpoint_path(run_dir), previous = previous_checkpoint_path(run_dir);
  // The current file becomes the previous one through a second name (a hard link, renamed into
  // place), so that checkpoint.pt is a whole file at every moment, crash or not.
  if (fs::exists(current)) {
    const fs::path link = run_dir / ".checkpoint-previous.link";
    std::error_code ec;
    fs::remove(link, ec);
    fs::create_hard_link(current, link, ec);
    if (!ec) fs::rename(link, previous, ec);
  }
  write_file_atomic(current, bytes.str());
}

torch::serialize::InputArchive open_checkpoint(const fs::path& checkpoint) {
  if (!fs::exists(checkpoint)) throw Error("no checkpoint at " + checkpoint.string());
  try {
    verify_archive(checkpoint);
  } catch (const Error& e) {
    std::string fallback;
    const fs::path previous = previous_checkpoint_path(checkpoint.parent_path());
    if (checkpoint.filename() == "checkpoint.pt" && fs::exists(previous)) {
      try {
        verify_archive(previous);
        fallback = "; the checkpoint before it, " + previous.string() +
                   ", is intact: move it onto " + checkpoint.string() + " to continue from there";
      } catch (const Error&) {
        fallback = "; the checkpoint before it is damaged too";
      }
    }
    throw Error(std::string(e.what()) + fallback);
  }
  torch::serialize::InputArchive archive;
  torch::Tensor format;
  try {
    archive.load_from(checkpoint.string(), torch::Device(torch::kCPU));  // whatever trained it
    archive.read("format", format);
  } catch (const c10::Error&) {
    throw Error(checkpoint.string() + " is not a hymask checkpoint");
  }
  if (format.item<int64_t>() != kCheckpointFormat)
    throw Error(checkpoint.string() + " has checkpoint format " +
                std::to_string(format.item<int64_t>()) + "; this hymask reads format " +
                std::to_string(kCheckpointFormat) + " (use the hymask that wrote it)");
  return archive;
}

Config checkpoint_config(const fs::path& checkpoint) {
  torch::serialize::InputArchive archive = open_checkpoint(checkpoint);
  torch::Tensor text;
  archive.read("config", text);
  return config_from_yaml(tensor_string(text), checkpoint.string());
}

int checkpoint_classes(const fs::path& checkpoint) {
  torch::serialize::InputArchive archive = open_checkpoint(checkpoint), model, head;
  torch::Tensor weight;
  try {
    archive.read("model", model);
    model.read("head", head);
    head.read("weight", weight);
  } catch (const c10::Error& e) {
    throw Error(checkpoint.string() + " holds no classifier head (" + e.what_without_backtrace() +
                ")");
  }
  return int(weight.size(0));
}

void load_checkpoint_model(const fs::path& checkpoint, FaceModel& model) {
  torch::serialize::InputArchive archive = open_checkpoint(checkpoint), m;
  // LibTorch's load replaces a parameter of another shape without a word: compare them.
  std::vector<std::vector<int64_t>> shapes;
  for (const torch::Tensor& p : model.parameters()) shapes.push_back(p.sizes().vec());
  try {
    archive.read("model", m);
    model.load(m);
  } catch (const c10::Error& e) {
    throw Error("cannot load the model of " + checkpoint.string() +
                ": not a checkpoint of this config (" + e.what_without_backtrace() + ")");
  }
  const std::vector<torch::Tensor> loaded = model.parameters();
  for (size_t i = 0; i < loaded.size(); ++i)
    if (loaded[i].sizes().vec() != shapes[i])
      throw Error("cannot load the model of " + checkpoint.string() +
                  ": its parameters have other shapes than this config's model");
}

TrainedPolicy load_checkpoint_policy(const fs::path& checkpoint, const Config& config) {
  TrainedPolicy trained;
  trained.policy = std::make_shared<nn::Policy>(nn::policy_options(config), config.seed);
  torch::serialize::InputArchive archive = open_checkpoint(checkpoint), policy;
  try {
    archive.read("policy", policy);
    trained.policy->load(policy);
    nn::LossTracker tracker;
    tracker.load(archive);
    trained.state = tracker.state(1.0);
  } catch (const c10::Error& e) {
    throw Error("cannot load the policy of " + checkpoint.string() +
                ": not the checkpoint of a mask.method=adaptive run (" +
                e.what_without_backtrace() + ")");
  }
  return trained;
}

}  // namespace hymask
