// The built-in synthetic face dataset: procedurally drawn faces, used when no data folder is given.
// Each identity has stable traits (face shape, skin tone, hair, eye / brow / nose / mouth
// geometry); each image varies them the way photographs do (pose, expression, lighting,
// background, noise). Everything is a pure function of (seed, identity, image), so any sample can
// be drawn at any time, in any thread, at any size.
#pragma once

#include <cstdint>
#include <filesystem>

#include "core/dataset.h"

namespace hymask {

struct SynthOptions {
  int identities = 100;
  int images_per_identity = 20;
  int size = 112;
  uint64_t seed = 1;
};

class SyntheticFaces : public FaceDataset {
 public:
  explicit SyntheticFaces(SynthOptions options);

  size_t size() const override {
    return size_t(options_.identities) * options_.images_per_identity;
  }
  int label(size_t index) const override { return int(index / options_.images_per_identity); }
  int num_classes() const override { return options_.identities; }
  std::string identity(int label) const override;
  std::string source(size_t index) const override;
  Image load(size_t index, bool grey) const override;  // always RGB, size x size

  const SynthOptions& options() const { return options_; }

 private:
  SynthOptions options_;
};

// Writes the dataset as an image folder (root/id_NNNN/NNNN.png), `threads` at a time.
void write_synthetic_faces(const SyntheticFaces& faces, const std::filesystem::path& root,
                           int threads);

}  // namespace hymask
