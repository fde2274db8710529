// The FR model of a run: backbone + margin head, built for the shape the masking produces.
#pragma once

#include <torch/serialize/archive.h>

#include <filesystem>
#include <memory>

#include "core/config.h"
#include "core/masking.h"
#include "core/nn/backbone.h"
#include "core/nn/margin.h"

namespace hymask {

struct FaceModel {
  std::shared_ptr<nn::Backbone> backbone;
  nn::MarginHead head{nullptr};

  FaceModel(const Config& config, const Masker& masker, int classes);
  std::vector<torch::Tensor> parameters() const;
  void train(bool on);
  // Moves every parameter and buffer (the same tensors: optimisers keep their hold on them).
  void to(torch::Device device);
  torch::Device device() const;
  // An exponential moving average of `model`'s weights (momentum 0: a copy); BatchNorm
  // statistics are copied.
  void follow(const FaceModel& model, double momentum);
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);
};

// The masker of a run (the method's transform and mixing settings).
Masker make_masker(const Config& config);
// The masker that evaluates the run in `run_dir`: make_masker's, and for an adaptive run whose
// policy adds noise, with the noise level its action history emitted most (what its model was
// trained on, and what a deployment's inputs get).
Masker make_eval_masker(const Config& config, const std::filesystem::path& run_dir);

}  // namespace hymask
