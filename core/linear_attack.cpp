#include "core/linear_attack.h"

#include <algorithm>

#include "core/error.h"

namespace hymask {

LinearAttack::LinearAttack(const Masker& masker, std::vector<float> prior)
    : masker_(masker), prior_(std::move(prior)) {
  const MaskOptions& o = masker.options();
  if (o.permute_channels || o.channel_subset > 0 || o.sign_flip)
    throw ConfigError(
        "the linear attack needs the channel order and signs, which mask.permute_channels, "
        "mask.channel_subset and mask.sign_flip keep secret: attack a run without them");
  HYMASK_CHECK(prior_.size() == size_t(masker.planes()) * masker.image_size() * masker.image_size(),
               "prior image has the wrong size");
}

const BlockDct& LinearAttack::transform_for(const std::vector<int>& channels) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = transforms_[channels];
  if (!slot)
    slot = std::make_unique<BlockDct>(masker_.image_size(), masker_.options().upsample, channels);
  return *slot;
}

void LinearAttack::reconstruct(const float* sample, float* out) const {
  const int planes = masker_.planes(), size = masker_.image_size();
  const size_t pixels = size_t(size) * size;
  if (masker_.domain() == SampleDomain::kPixels) {
    std::copy_n(sample, planes * pixels, out);
    return;
  }
  if (const SpectrumHighPass* spectrum = masker_.spectrum()) {
    // The high-pass image is the least-squares answer's observed part; the prior fills the band.
    std::vector<double> prior(prior_.begin(), prior_.end()), low(prior.size());
    spectrum->low_pass(prior.data(), low.data(), planes);
    for (size_t i = 0; i < low.size(); ++i) out[i] = float(sample[i] + low[i]);
    return;
  }
  // The channels this sample observes: those not identically zero in every plane.
  const std::vector<int> ids = masker_.channel_ids();
  const int per_plane = int(ids.size()) / planes;
  const size_t plane = size_t(masker_.out_size()) * masker_.out_size();
  std::vector<int> observed, positions;
  for (int c = 0; c < per_plane; ++c) {
    bool nonzero = false;
    for (int p = 0; p < planes && !nonzero; ++p) {
      const float* s = sample + (size_t(p) * per_plane + c) * plane;
      nonzero = std::any_of(s, s + plane, [](float v) { return v != 0.0f; });
    }
    if (nonzero) {
      observed.push_back(ids[c] % 64);
      positions.push_back(c);
    }
  }
  std::vector<double> prior(prior_.begin(), prior_.end()), image(planes * pixels);
  if (observed.empty()) {
    std::copy(prior.begin(), prior.end(), out);
    return;
  }
  const BlockDct& transform = transform_for(observed);
  // Residual y - A prior, over the observed channels only.
  std::vector<double> predicted(transform.plane_out_size() * planes), residual(predicted.size());
  transform.forward(prior.data(), predicted.data(), planes);
  for (int p = 0; p < planes; ++p)
    for (size_t j = 0; j < positions.size(); ++j) {
      const float* s = sample + (size_t(p) * per_plane + positions[j]) * plane;
      const size_t at = (size_t(p) * positions.size() + j) * plane;
      for (size_t e = 0; e < plane; ++e) residual[at + e] = s[e] - predicted[at + e];
    }
  least_squares_invert(transform, residual.data(), image.data(), planes, 2000, 1e-9);
  for (size_t i = 0; i < image.size(); ++i) out[i] = float(prior[i] + image[i]);
}

}  // namespace hymask
