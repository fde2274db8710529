// Evaluation of a trained FR model on the protocols of ../shared/data/README.md, with embeddings
// computed on masked inputs (k = 1, the run's transform and channel masking):
//   orl-id          data.split orl-*: top-1 identification of ORL images 8-10 against per-person
//                   mean embeddings of images 1-7.
//   lfw-disjoint-5  data.split lfw5-*: 10-fold verification accuracy on the pairs of people never
//                   seen in training, ROC AUC, TAR at FAR = 1e-2.
//   synthetic-id    synthetic data: top-1 identification of unseen images of each identity
//                   against mean embeddings of its training images.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/config.h"
#include "core/masking.h"
#include "worker/face_model.h"

namespace hymask {

// The protocol the training data implies; empty when there is none (an image folder used whole).
std::string evaluation_protocol(const Config& config);

// Returns the results as JSON ({"protocol": ..., metrics ...}).
nlohmann::json evaluate(const Config& config, FaceModel& model, const Masker& masker);

// A short human-readable table of evaluate()'s result.
std::string format_evaluation(const nlohmann::json& result);

}  // namespace hymask
