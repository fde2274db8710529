#include "worker/face_model.h"

#include <spdlog/spdlog.h>

#include "worker/run_folder.h"

namespace hymask {

FaceModel::FaceModel(const Config& config, const Masker& masker, int classes) {
  nn::BackboneOptions b;
  b.name = config.model.backbone;
  b.in_channels = masker.channels();
  b.in_size = masker.out_size();
  b.embedding = config.model.embedding;
  b.batchnorm = config.model.batchnorm;
  b.onednn = config.model.onednn;
  backbone = nn::make_backbone(b);
  nn::MarginOptions m;
  m.kind = nn::parse_margin_kind(config.model.head);
  m.scale = config.model.scale;
  m.margin = config.model.margin;
  head = nn::MarginHead(config.model.embedding, classes, m);
}

std::vector<torch::Tensor> FaceModel::parameters() const {
  std::vector<torch::Tensor> params = backbone->parameters();
  for (const torch::Tensor& p : head->parameters()) params.push_back(p);
  return params;
}

void FaceModel::to(torch::Device device) {
  backbone->to(device);
  head->to(device);
}

torch::Device FaceModel::device() const {
  return head->parameters().front().device();
}

void FaceModel::train(bool on) {
  backbone->train(on);
  head->train(on);
}

void FaceModel::follow(const FaceModel& model, double momentum) {
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> mine = parameters(), theirs = model.parameters();
  for (size_t i = 0; i < mine.size(); ++i) mine[i].lerp_(theirs[i], 1 - momentum);
  const auto my_buffers = backbone->buffers(), their_buffers = model.backbone->buffers();
  for (size_t i = 0; i < my_buffers.size(); ++i) my_buffers[i].copy_(their_buffers[i]);
}

void FaceModel::save(torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive b, h;
  backbone->save(b);
  head->save(h);
  archive.write("backbone", b);
  archive.write("head", h);
}

void FaceModel::load(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive b, h;
  archive.read("backbone", b);
  archive.read("head", h);
  backbone->load(b);
  head->load(h);
}

Masker make_masker(const Config& config) {
  const PreprocessOptions pre = preprocess_options(config);
  return Masker(mask_options(config), pre.size, pre.color);
}

Masker make_eval_masker(const Config& config, const std::filesystem::path& run_dir) {
  const PreprocessOptions pre = preprocess_options(config);
  MaskOptions options = mask_options(config);
  if (options.method == Method::kAdaptive && config.policy.noise_levels > 1 && !options.noise) {
    const ActionHistory history = read_action_history(run_dir);
    if (history.actions.empty())
      spdlog::warn(
          "{} holds no action history (actions-rank*.csv): evaluating without noise; to evaluate "
          "at the run's noise, add mask.noise=true mask.dp_epsilon=EPSILON",
          run_dir.string());
    options.deployed_noise_epsilon = most_emitted_noise_epsilon(history);
  }
  return Masker(options, pre.size, pre.color);
}

}  // namespace hymask
