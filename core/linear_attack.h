// The white-box linear attack on a protected sample: the attacker knows the transform (upsampling,
// block DCT, which channels are kept) but not the secret draws (partners, weights, noise). It
// solves the least-squares problem
//     x = prior + argmin_d |A d - (y - A prior)|   (minimum-norm d, by PCG)
// so that what the transform cannot see (the dropped channels at u = 1; the global mean at u >= 2)
// is filled from `prior`, a mean face of public images. For a mixture it recovers the mixture of
// the constituents in pixels; for the pixel methods the sample is already that.
// Channels that a sample holds as exact zeros (an adaptive action's higher drop level) are treated
// as not observed, as an attacker would. In the spectrum domain the sample is the high-pass image
// itself, an orthogonal projection: the answer is it plus the prior's low-pass part.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/block_dct.h"
#include "core/masking.h"

namespace hymask {

class LinearAttack {
 public:
  // prior: planes x S x S centred pixels. Throws ConfigError for a masking whose channel order or
  // signs are secret (mask.permute_channels, mask.channel_subset, mask.sign_flip).
  LinearAttack(const Masker& masker, std::vector<float> prior);

  // sample: masker.channels() x n x n; out: planes x S x S centred pixels. Thread-safe.
  void reconstruct(const float* sample, float* out) const;

 private:
  const BlockDct& transform_for(const std::vector<int>& channels) const;

  const Masker& masker_;
  std::vector<float> prior_;
  mutable std::mutex mutex_;
  mutable std::map<std::vector<int>, std::unique_ptr<BlockDct>> transforms_;
};

}  // namespace hymask
