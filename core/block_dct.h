// The block-DCT transform of the masking method (DESIGN.md, "The masking method", step 2).
//
// For one image plane of S x S pixels and an upsampling factor u in {1, 2, 4, 8}:
//   bilinear upsampling by u (align_corners = false, edges replicated), then an orthonormal 8x8
//   DCT-II on each block, giving 64 channels (index 8*v + h for vertical frequency v, horizontal
//   frequency h) of (S*u/8) x (S*u/8) coefficients.
// The map is linear and separable: along each axis, block b's frequency f is a short weighted sum
// of neighbouring input pixels (3 taps for u = 8, 4 for u = 4, 6 for u = 2, 8 for u = 1). BlockDct
// applies it as two 1-D passes without ever forming the upsampled image, and computes only the
// channels it keeps.
//
// Privacy: for u >= 2 the map is overcomplete and, even with low frequencies dropped, invertible by
// least squares up to the global mean (see least_squares_invert and DESIGN.md's warning).
#pragma once

#include <cstddef>
#include <vector>

namespace hymask {

// Channels kept at drop level t: every (v, h) with v + h > t, in increasing channel order.
// t = -1 keeps all 64; t = 0 drops DC only.
std::vector<int> kept_channels_for_drop_level(int drop_level);

// One axis of the transform: coefficient (block b, frequency f) =
//   sum_{t < taps} weight[(b * 8 + f) * taps + t] * x[start[b] + t]
struct AxisOperator {
  AxisOperator(int size, int upsample);
  int size;
  int blocks;
  int taps;
  std::vector<int> start;
  std::vector<double> weight;
};

class BlockDct {
 public:
  // `channels`: the channel ids (0..63) to compute, in output order.
  BlockDct(int size, int upsample, std::vector<int> channels);

  int size() const { return size_; }
  int upsample() const { return upsample_; }
  int out_size() const { return axis_.blocks; }
  const std::vector<int>& channels() const { return channels_; }
  const AxisOperator& axis() const { return axis_; }
  int num_channels() const { return int(channels_.size()); }
  size_t plane_in_size() const { return size_t(size_) * size_; }
  size_t plane_out_size() const { return channels_.size() * size_t(axis_.blocks) * axis_.blocks; }

  // in: planes x S x S; out: planes x channels x n x n, n = out_size().
  void forward(const float* in, float* out, int planes) const;
  void forward(const double* in, double* out, int planes) const;

  // The transpose of forward: out (planes x S x S) = A^T in.
  void adjoint(const double* in, double* out, int planes) const;

  // The pseudo-inverse of the full (all 64 channels) transform applied to these coefficients with
  // the channels not kept set to zero: exact recovery when all channels are kept, and the
  // "what the masked sample looks like" picture otherwise.
  void inverse(const double* in, double* out, int planes) const;

  // (G^-1 kron G^-1) for G = A1^T A1, the Gram matrix of one axis of the full transform: the
  // normal-equation solve of the full transform, used as the preconditioner of the attack.
  void gram_solve(const double* in, double* out, int planes) const;

 private:
  template <typename T>
  void forward_impl(const T* in, T* out, int planes) const;

  int size_;
  int upsample_;
  std::vector<int> channels_;
  AxisOperator axis_;
  std::vector<float> weight_f_;       // axis_.weight in float, for the float path
  std::vector<float> weight_by_tap_;  // the same as [block][tap][frequency], for 8-wide SIMD
  std::vector<int> horizontal_;       // distinct h among channels_, and each channel's slot in it
  std::vector<int> slot_of_channel_;
  std::vector<double> gram_inverse_;  // (A1^T A1)^-1, S x S: per-axis Gram of the full transform
};

// The white-box linear attack: least-squares solution of forward(x) = coeffs by preconditioned
// conjugate gradients on the normal equations, started from 0, so the part of x the transform
// cannot see (for t >= 0, the global mean) comes out as 0. Returns the iterations used.
int least_squares_invert(const BlockDct& transform, const double* coeffs, double* image, int planes,
                         int max_iterations = 5000, double tolerance = 1e-10);

// The naive reference: materialise the upsampled image, unfold the 8x8 blocks, and apply the DCT
// by its definition, all in float64. out: planes x 64 x n x n (every channel).
void block_dct_reference(const double* in, double* out, int size, int upsample, int planes);

}  // namespace hymask
