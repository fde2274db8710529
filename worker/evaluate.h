// Evaluation of a trained FR model on the protocols of ../shared/data/README.md, with embeddings
// computed on masked inputs (k = 1, the run's transform and channel masking):
//   orl-id          data.split orl-*: top-1 identification of ORL images 8-10 against per-person
//                   mean embeddings of images 1-7.
//   lfw-disjoint-5  data.split lfw5-*: 10-fold verification accuracy on the pairs of people never
//                   seen in training, ROC AUC, TAR at FAR = 1e-2, 1e-3, 1e-4.
//   synthetic-id    synthetic data: top-1 identification of unseen images of each identity
//                   against mean embeddings of its training images.
// and, on request, InsightFace's .bin verification sets and LFW-format pairs files.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/loader.h"
#include "core/masking.h"
#include "worker/face_model.h"

namespace hymask {

// Embeddings of masked inputs (k = 1, the run's transform and channel masking), batch by batch, as
// the evaluations and `hymask embed` compute them. Holds the model in evaluation mode while alive.
class Embedder {
 public:
  // `flip` adds the embedding of each image's mirror before normalising (arcface_torch's flip
  // test).
  Embedder(const Config& config, FaceModel& model, const Masker& masker, bool flip = false);
  ~Embedder();
  Embedder(const Embedder&) = delete;
  Embedder& operator=(const Embedder&) = delete;

  // A loader over `indices` of `dataset` whose batches come masked, ready for embed().
  std::unique_ptr<BatchLoader> loader(std::shared_ptr<const FaceDataset> dataset,
                                      std::vector<size_t> indices) const;
  // L2-normalised embeddings (batch x E) of a loaded batch.
  torch::Tensor embed(Batch& batch);

 private:
  const Config& config_;
  FaceModel& model_;
  const Masker& masker_;
  bool flip_;
  int image_size_;  // S of the preprocessed pixels
  MixAction action_;
};

// The protocol the training data implies; empty when there is none (an image folder used whole).
std::string evaluation_protocol(const Config& config);

// Returns the results as JSON ({"protocol": ..., metrics ...}).
nlohmann::json evaluate(const Config& config, FaceModel& model, const Masker& masker);

// InsightFace's verification protocol on a .bin set (core/verification_bin.h): 10-fold accuracy
// over consecutive folds, threshold chosen on the other nine; AUC; TAR at FAR = 1e-2, 1e-3, 1e-4.
// `flip` adds each image's mirrored embedding, as arcface_torch does.
nlohmann::json evaluate_bin(const Config& config, FaceModel& model, const Masker& masker,
                            const std::filesystem::path& bin_file, bool flip);

// The same metrics over every pair of an LFW-format pairs.txt (its header gives the folds; LFW: 10
// of 600 lines) on the images of data.root: the folder counterpart of evaluate_bin.
nlohmann::json evaluate_pairs_file(const Config& config, FaceModel& model, const Masker& masker,
                                   const std::filesystem::path& pairs_file, bool flip);

// A short human-readable table of an evaluation's result.
std::string format_evaluation(const nlohmann::json& result);

}  // namespace hymask
