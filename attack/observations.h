// What an attacker observes of a training run: the protected samples of some epochs, each with
// the ground truth (its constituents and weights) kept aside for scoring only, and the linear
// attack's pixel image of each, which every other attack starts from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "core/config.h"
#include "core/data_source.h"
#include "core/dataset.h"
#include "core/linear_attack.h"
#include "core/masking.h"
#include "core/preprocess.h"

namespace hymask::attack {

// Preprocessed faces held in memory (centred planes, as the masking takes them).
struct FaceSet {
  int planes = 1;
  int size = 0;
  std::vector<float> pixels;  // count x planes x S x S
  std::vector<int> labels;
  std::vector<uint64_t> keys;

  size_t count() const { return labels.size(); }
  size_t image_floats() const { return size_t(planes) * size * size; }
  const float* image(size_t i) const { return pixels.data() + image_floats() * i; }
};

// Decodes and preprocesses dataset[indices] (bad files are skipped with a warning).
FaceSet load_faces(std::shared_ptr<const FaceDataset> dataset, const std::vector<size_t>& indices,
                   const PreprocessOptions& preprocess, int threads);

// `count` (0: all) training images of a run, the same ones for the same seed, in dataset order.
FaceSet load_targets(const Config& config, const DataSource& source, int count, int threads);

// `count` (0: all) of the attacker's public faces (attack.aux_root, LFW people with 1-4 images),
// preprocessed as the run's images.
FaceSet load_public_faces(const Config& config, int count, int threads);

// `count` faces of `faces` from `first` on.
FaceSet subset(const FaceSet& faces, size_t first, size_t count);

// The mean face (planes x S x S).
std::vector<float> mean_face(const FaceSet& faces);

// The action of each step: fixed by the method, or sampled from a trained policy.
using ActionAt = std::function<MixAction(uint64_t step)>;

// The action of every step of a run: fixed, or (adaptive) drawn from the actions the run really
// emitted over its whole history, so that every protected sample it emitted is exposed, not
// only those of the final policy.
ActionAt action_source(const Config& config, const Masker& masker,
                       const std::filesystem::path& run);

struct Observations {
  int planes = 1;
  int size = 0;
  size_t image_floats = 0;
  std::vector<float> linear;              // count x planes x S x S: the linear attack's images
  std::vector<std::vector<int>> members;  // positions in the FaceSet, by descending weight
  std::vector<std::vector<float>> weights;
  std::vector<MixAction> actions;       // each sample's action
  std::vector<float> protected_pixels;  // the first `previews`: Masker::to_pixels of each

  size_t count() const { return members.size(); }
  const float* linear_image(size_t i) const { return linear.data() + image_floats * i; }
  int top(size_t i) const { return members[i][0]; }
};

// Masks `epochs` shuffled passes over `faces` in batches, as training does (partners from the
// same batch, draws keyed by (seed, step_base + step, sample)), and runs the linear attack on
// every sample with `threads` threads.
Observations observe(const FaceSet& faces, const Masker& masker, const ActionAt& action_at,
                     const LinearAttack& linear, int epochs, int batch_size, uint64_t seed,
                     uint64_t step_base, int previews, int threads);

}  // namespace hymask::attack
