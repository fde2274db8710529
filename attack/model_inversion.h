// Model inversion of a trained FR model (white box): for each identity, optimise an image so that
// the model, fed with the run's masking transform of it, places it closest to that identity's
// class centre, under a total-variation image prior and small random shifts (which keep the
// result from being an adversarial pattern that only this model reads). The image lives in
// pixels and goes through the transform, so it needs no inverse mapping afterwards.
#pragma once

#include <torch/types.h>

#include <vector>

#include "attack/masking_transform.h"
#include "worker/face_model.h"

namespace hymask::attack {

struct InversionOptions {
  int steps = 100;
  double lr = 0.05;
  double tv = 0.1;
  uint64_t seed = 1;
};

// Returns labels.size() x planes x S x S centred images, started from `prior` (planes x S x S).
torch::Tensor invert_identities(FaceModel& model, const MaskingTransform& transform,
                                const std::vector<int>& labels, const std::vector<float>& prior,
                                int planes, int size, const InversionOptions& options);

}  // namespace hymask::attack
