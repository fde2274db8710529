// The global-spectrum masking transform (mask.domain spectrum), the alternative to the 8x8 block
// DCT: each face plane's 2-D DFT loses its low frequencies, those with
// sqrt(fy^2 + fx^2) <= cutoff (in cycles per image, fy and fx signed). What is left is handed on
// as the high-pass image it describes (S x S, real): the same information as the kept spectrum,
// in the square layout the network and MixUp take (mixing is linear, so mixing images is mixing
// spectra). The removed band is small, so it is computed directly: a partial DFT over the
// (2c + 1)^2 low frequencies, separable, in float64.
#pragma once

#include <utility>
#include <vector>

namespace hymask {

class SpectrumHighPass {
 public:
  // cutoff < 0: nothing is removed.
  SpectrumHighPass(int size, double cutoff);

  // The radius that removes about as many degrees of freedom as the block DCT's drop level t
  // (t = 0: the blocks' means, S^2 / 64 values; radius S / 16 removes pi S^2 / 256): (t + 1) S
  // / 16. t = -1: nothing.
  static double cutoff_for_drop_level(int size, int drop_level);

  int size() const { return size_; }
  double cutoff() const { return cutoff_; }
  // Real degrees of freedom removed from each plane (the band's frequencies, counted as a real
  // DFT counts them).
  int removed() const { return int(band_.size()); }
  // Whether the band holds DFT bin (fy, fx), each in 0..S-1 (bins above S/2 are the negative
  // frequencies), for transforms that work on the whole spectrum (attack/masking_transform.h).
  bool removes(int fy, int fx) const;

  // in: planes x S x S; out: the low-pass part alone (what the transform removes).
  void low_pass(const double* in, double* out, int planes) const;
  // in: planes x S x S; out: in - low_pass(in).
  void forward(const double* in, double* out, int planes) const;
  void forward(const float* in, float* out, int planes) const;

 private:
  int size_;
  double cutoff_;
  int reach_;                              // max |f| in the band: floor(cutoff)
  std::vector<std::pair<int, int>> band_;  // (fy, fx) removed, each index in 0..2 reach
  std::vector<double> cos_, sin_;          // (2 reach + 1) x S: angle 2 pi f x / S
};

}  // namespace hymask
