// BatchNorm statistics re-estimated after training (AdaBN: Li et al., "Revisiting Batch
// Normalization For Practical Domain Adaptation", 2016), as eval.batchnorm asks. A model trained on
// mixed faces keeps running statistics of mixtures, yet it embeds unmixed (k = 1) masked faces.
//   public       LFW people with fewer than 5 images whom no evaluation pair names (1,650
//                images), k = 1: neither a training nor an evaluation face enters the statistics.
//   train        the run's training images, k = 1: they enter the model through its statistics
//                (a measurement of what that would buy, not a protection).
//   train-mixed  the run's training images under its own mixing (mask.*): what it emitted.
#pragma once

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/masking.h"
#include "worker/face_model.h"

namespace hymask {

// Replaces every BatchNorm running mean and variance of `model` by their plain average over
// eval.batchnorm_images images of the eval.batchnorm source (seeded random order, batches of
// train.batch_size), leaving the weights and the momentum untouched; returns what was used, or
// null for eval.batchnorm=model (nothing to do). Leaves the model in evaluation mode. The config
// must have passed validation (load_config), which checks the source against the data.
nlohmann::json recalibrate_batchnorm(const Config& config, FaceModel& model, const Masker& masker);

}  // namespace hymask
