// Steps 3-4 of the masking method (DESIGN.md): channel masking and frequency MixUp, plus the
// baselines (raw pixels, InstaHide-style pixel MixUp, DCTDP-style Laplace noise on the kept
// frequency coefficients), behind one class.
//
// A batch of centred pixels (batch x planes x S x S) becomes a batch of protected samples
// (batch x C x n x n). For the frequency methods in the block-DCT domain C = planes x kept
// channels and n = S*u/8; in the spectrum domain (core/spectrum.h) and for the pixel methods
// C = planes and n = S. Sample i is mixed with k - 1 partners drawn from the same
// batch; its constituents and weights are reported in descending weight order, and its loss is
// sum_j weight_j * L(f(x_mix), label(member_j)).
//
// Every random draw comes from Rng::stream(seed, step, key(i), purpose) where key(i) is a stable id
// of the sample (its dataset index): the same seed, step and samples give the same bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/block_dct.h"
#include "core/options.h"
#include "core/preprocess.h"
#include "core/spectrum.h"

namespace hymask {

enum class Method { kNone, kMask, kInstaHide, kMixup, kAdaptive, kDp };
// none | mask | instahide | mixup | adaptive | dp
Method parse_method(const std::string& name);
std::string method_name(Method method);

enum class WeightScheme { kDirichlet, kGaussian };
WeightScheme parse_weight_scheme(const std::string& name);  // dirichlet | gaussian
std::string weight_scheme_name(WeightScheme scheme);

struct MaskOptions {
  Method method = Method::kMixup;
  MaskDomain domain = MaskDomain::kBlockDct;  // the frequency methods' transform
  int upsample = 1;
  int drop_level = 0;  // channels with v + h <= drop_level are removed
  int k = 2;           // samples per mixture (mixup, instahide)
  WeightScheme weights = WeightScheme::kDirichlet;
  double dirichlet_alpha = 1.0;
  double weight_cap = 1.0;         // no weight above this (1 = no cap)
  bool sign_flip = false;          // a secret random sign per coefficient
  bool normalize_mixture = false;  // rescale each mixture to one face's expected energy
  int channel_subset = 0;          // > 0: each sample keeps only this many random channels
  bool permute_channels = false;   // a secret channel order, fixed for the run
  bool noise = false;              // mixup: dp's noise (below) on every mixture too
  // adaptive: the noise its evaluation inputs get, the policy's usual level (0: none). A model
  // trained on noisy mixtures and shown clean faces loses ~6 points of LFW accuracy.
  double deployed_noise_epsilon = 0;
  // dp: each kept coefficient is clipped to [-dp_clip, dp_clip] and gets Laplace noise of scale
  // 2 dp_clip / dp_epsilon: epsilon-local DP per coefficient (an image composes to d x epsilon).
  double dp_epsilon = 8.0;
  double dp_clip = 32.0;
  uint64_t seed = 1;
};

// The choice made for one batch: fixed by the options, or sampled by the policy (adaptive).
struct MixAction {
  int k = 1;
  WeightScheme weights = WeightScheme::kDirichlet;
  int drop_level = 0;        // >= the options' level: extra channels are zeroed, the shape stays
  double noise_epsilon = 0;  // > 0: dp's clipped Laplace noise at this epsilon, after mixing
  double weight_cap = 1.0;   // no mixing weight above this (1: none; below 1/k it is 1/k)
};

// "k2-dirichlet-drop0-eps0", with "-cap0.6" when the weights are capped: a stable name for logs
// and reports.
std::string action_name(const MixAction& action);

struct MaskedBatch {
  int batch = 0;
  int k = 0;
  int channels = 0;
  int size = 0;
  std::vector<float> data;     // batch x channels x size x size
  std::vector<int> members;    // batch x k: positions in the input batch, by descending weight
  std::vector<float> weights;  // batch x k, each row on the simplex
  size_t sample_size() const { return size_t(channels) * size * size; }
};

// What a protected sample holds: pixels (none, instahide), block-DCT coefficients, or the
// high-pass image of the global spectrum.
enum class SampleDomain { kPixels, kBlockDct, kSpectrum };

class Masker {
 public:
  Masker(const MaskOptions& options, int image_size, ColorMode color);

  const MaskOptions& options() const { return options_; }
  SampleDomain domain() const {
    return transform_  ? SampleDomain::kBlockDct
           : spectrum_ ? SampleDomain::kSpectrum
                       : SampleDomain::kPixels;
  }
  // The spectrum domain's transform (nullptr in the others).
  const SpectrumHighPass* spectrum() const { return spectrum_.get(); }
  int channels() const { return channels_; }
  int out_size() const { return out_size_; }
  int planes() const { return planes_; }
  int image_size() const { return image_size_; }
  // Kept channel ids, component * 64 + (8v + h), in increasing order (block-DCT domain; empty in
  // the others).
  std::vector<int> channel_ids() const;
  MixAction default_action() const;

  // pixels: batch x planes x S x S; keys: one stable id per sample.
  void apply(const float* pixels, const std::vector<uint64_t>& keys, uint64_t step,
             const MixAction& action, MaskedBatch& out) const;

  // What a protected sample looks like in pixels: the inverse transform with the missing channels
  // zeroed (secret signs and permutation are not undone). out: planes x S x S.
  void to_pixels(const float* sample, float* out) const;

  // Draws the mixture of one sample under the action (its k, weight scheme and cap): writes
  // action.k members (positions) and weights, sorted.
  void draw_mixture(int self, int batch, const MixAction& action, uint64_t key, uint64_t step,
                    int* members, float* weights) const;

  // The parts of apply that a device backend (core/cuda/gpu_masking.h) shares, so that it draws
  // the same bytes: the channels an action's higher drop level zeroes (unpermuted positions),
  // the mixture's rescaling (mask.normalize; 1 otherwise), and one sample's Laplace noise, added
  // after clipping to [-dp_clip, dp_clip].
  std::vector<char> zeroed_channels(const MixAction& action) const;
  float mixture_gain(const float* weights, int k) const;
  void draw_noise(uint64_t key, uint64_t step, double epsilon, double* noise, size_t count) const;

 private:
  MaskOptions options_;
  int image_size_;
  int planes_;
  int channels_;
  int out_size_;
  std::unique_ptr<BlockDct> transform_;         // block-DCT domain
  std::unique_ptr<SpectrumHighPass> spectrum_;  // spectrum domain
  std::vector<int> permutation_;                // output channel c holds channel permutation_[c]
};

// The in-loop linear attacker's view of a mixed batch: the mean, over its samples, of the cosine
// between each protected sample and its main (largest-weight) constituent protected alone
// (`unmixed`: the same images under the same action with k = 1). With u = 1 the transform is
// orthonormal, so this is the cosine between the least-squares image and that face's visible
// part: 1 for an unmixed face, lower the more the others hide it.
double main_constituent_similarity(const MaskedBatch& mixed, const MaskedBatch& unmixed);

}  // namespace hymask
