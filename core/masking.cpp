#include "core/masking.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/random.h"

namespace hymask {

Method parse_method(const std::string& name) {
  if (name == "none") return Method::kNone;
  if (name == "mask") return Method::kMask;
  if (name == "instahide") return Method::kInstaHide;
  if (name == "mixup") return Method::kMixup;
  if (name == "adaptive") return Method::kAdaptive;
  if (name == "dp") return Method::kDp;
  throw ConfigError("method must be one of none, mask, instahide, mixup, adaptive, dp; not '" +
                    name + "'");
}

std::string method_name(Method method) {
  switch (method) {
    case Method::kNone:
      return "none";
    case Method::kMask:
      return "mask";
    case Method::kInstaHide:
      return "instahide";
    case Method::kMixup:
      return "mixup";
    case Method::kAdaptive:
      return "adaptive";
    case Method::kDp:
      return "dp";
  }
  return "?";
}

WeightScheme parse_weight_scheme(const std::string& name) {
  if (name == "dirichlet") return WeightScheme::kDirichlet;
  if (name == "gaussian") return WeightScheme::kGaussian;
  throw ConfigError("mixing weights must be 'dirichlet' or 'gaussian', not '" + name + "'");
}

std::string weight_scheme_name(WeightScheme scheme) {
  return scheme == WeightScheme::kDirichlet ? "dirichlet" : "gaussian";
}

std::string action_name(const MixAction& a) {
  std::string name = fmt::format("k{}-{}-drop{}-eps{}", a.k, weight_scheme_name(a.weights),
                                 a.drop_level, a.noise_epsilon);
  if (a.weight_cap < 1) name += fmt::format("-cap{}", a.weight_cap);
  return name;
}

Masker::Masker(const MaskOptions& options, int image_size, ColorMode color)
    : options_(options), image_size_(image_size), planes_(color_planes(color)) {
  if (options_.k < 1 || options_.k > 16) throw ConfigError("mask.k must be in 1..16");
  if (options_.dirichlet_alpha <= 0) throw ConfigError("mask.dirichlet_alpha must be positive");
  if (options_.dp_epsilon <= 0 || options_.dp_clip <= 0)
    throw ConfigError("mask.dp_epsilon and mask.dp_clip must be positive");
  // The lower bound 1/k is mask.k's; an adaptive run draws k from the policy, and validate()
  // bounds its cap by policy.k_max.
  if (options_.weight_cap > 1.0 ||
      (options_.method != Method::kAdaptive && options_.weight_cap * options_.k < 1.0 - 1e-9))
    throw ConfigError(
        "mask.weight_cap must lie in [1/k, 1]: k weights that sum to 1 cannot all "
        "stay under " +
        std::to_string(options_.weight_cap));
  const Method m = options_.method;
  if (m == Method::kNone || m == Method::kInstaHide) {
    channels_ = planes_;
    out_size_ = image_size;
  } else if (options_.domain == MaskDomain::kSpectrum) {
    if (options_.upsample != 1 || options_.sign_flip || options_.permute_channels ||
        options_.channel_subset > 0)
      throw ConfigError(
          "mask.domain spectrum takes no mask.upsample, sign_flip, permute_channels or "
          "channel_subset: they act on the block DCT's channels");
    spectrum_ = std::make_unique<SpectrumHighPass>(
        image_size, SpectrumHighPass::cutoff_for_drop_level(image_size, options_.drop_level));
    channels_ = planes_;
    out_size_ = image_size;
  } else {
    transform_ = std::make_unique<BlockDct>(image_size, options_.upsample,
                                            kept_channels_for_drop_level(options_.drop_level));
    channels_ = planes_ * transform_->num_channels();
    out_size_ = transform_->out_size();
  }
  if (options_.channel_subset < 0 || options_.channel_subset > channels_)
    throw ConfigError("mask.channel_subset must be in 0.." + std::to_string(channels_));
  permutation_.resize(channels_);
  std::iota(permutation_.begin(), permutation_.end(), 0);
  if (options_.permute_channels) {
    Rng rng = Rng::stream(options_.seed, 0, 0, Purpose::kPermutation);
    rng.shuffle(permutation_);
  }
}

std::vector<int> Masker::channel_ids() const {
  std::vector<int> ids;
  if (!transform_) return ids;
  for (int p = 0; p < planes_; ++p)
    for (int c : transform_->channels()) ids.push_back(p * 64 + c);
  return ids;
}

MixAction Masker::default_action() const {
  const bool mixes = options_.method == Method::kMixup || options_.method == Method::kInstaHide ||
                     options_.method == Method::kAdaptive;
  const bool noisy = options_.method == Method::kDp || (mixes && options_.noise);
  const double deployed =
      options_.method == Method::kAdaptive ? options_.deployed_noise_epsilon : 0.0;
  return {mixes ? options_.k : 1, options_.weights, options_.drop_level,
          noisy ? options_.dp_epsilon : deployed, options_.weight_cap};
}

void Masker::draw_mixture(int self, int batch, const MixAction& action, uint64_t key, uint64_t step,
                          int* members, float* weights) const {
  const int k = action.k;
  const int mixed = std::min(k, batch);  // a batch smaller than k mixes what it has
  std::vector<int> pool;
  for (int j = 0; j < batch; ++j)
    if (j != self) pool.push_back(j);
  Rng partner_rng = Rng::stream(options_.seed, step, key, Purpose::kPartners);
  for (int j = 0; j < mixed - 1; ++j)  // partial Fisher-Yates: mixed - 1 distinct partners
    std::swap(pool[j], pool[j + partner_rng.below(pool.size() - j)]);

  Rng weight_rng = Rng::stream(options_.seed, step, key, Purpose::kWeights);
  std::vector<double> w(mixed);
  double total = 0;
  for (double& x : w) {
    x = action.weights == WeightScheme::kDirichlet ? weight_rng.gamma(options_.dirichlet_alpha)
                                                   : std::abs(weight_rng.normal());
    total += x;
  }
  for (double& x : w) x = total > 0 ? x / total : 1.0 / mixed;
  // Cap by water-filling: pin weights above the cap to it, rescale the others to fill the rest;
  // repeat until none exceeds it (at most `mixed` rounds, each pins at least one more).
  const double cap = std::max(action.weight_cap, 1.0 / mixed);
  std::vector<char> pinned(mixed, 0);
  for (int round = 0; round < mixed; ++round) {
    int count = 0;
    double free_mass = 0;
    for (int j = 0; j < mixed; ++j) {
      if (!pinned[j] && w[j] > cap) pinned[j] = 1;
      if (pinned[j])
        ++count;
      else
        free_mass += w[j];
    }
    bool over = false;
    for (int j = 0; j < mixed; ++j) {
      if (pinned[j]) {
        w[j] = cap;
      } else if (free_mass > 0) {
        w[j] *= (1.0 - count * cap) / free_mass;
        over |= w[j] > cap;
      }
    }
    if (!over) break;
  }
  std::vector<int> order(mixed);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return w[a] > w[b]; });
  for (int j = 0; j < k; ++j) {
    if (j < mixed) {
      const int o = order[j];
      members[j] = o == 0 ? self : pool[o - 1];
      weights[j] = float(w[o]);
    } else {  // padding for a short batch: the sample itself with weight 0
      members[j] = self;
      weights[j] = 0.0f;
    }
  }
}

std::vector<char> Masker::zeroed_channels(const MixAction& action) const {
  std::vector<char> zeroed(channels_, 0);
  if (transform_ && action.drop_level > options_.drop_level) {
    const std::vector<int> ids = channel_ids();
    for (int c = 0; c < channels_; ++c)
      zeroed[c] = (ids[c] % 64) / 8 + (ids[c] % 64) % 8 <= action.drop_level;
  }
  return zeroed;
}

float Masker::mixture_gain(const float* weights, int k) const {
  if (!options_.normalize_mixture || k <= 1) return 1.0f;
  // A mixture of k independent faces has sqrt(sum w^2) of one face's energy: restore it, so that
  // every k feeds the network samples of the same scale as evaluation's unmixed ones.
  double energy = 0;
  for (int j = 0; j < k; ++j) energy += double(weights[j]) * weights[j];
  return float(1.0 / std::sqrt(std::max(energy, 1e-12)));
}

void Masker::draw_noise(uint64_t key, uint64_t step, double epsilon, double* noise,
                        size_t count) const {
  const double scale = 2.0 * options_.dp_clip / epsilon;
  Rng rng = Rng::stream(options_.seed, step, key, Purpose::kNoise);
  for (size_t e = 0; e < count; ++e) {
    const double u = rng.uniform() - 0.5;  // Laplace by inverting its CDF
    noise[e] = -scale * std::copysign(std::log1p(-2.0 * std::abs(u)), u);
  }
}

void Masker::apply(const float* pixels, const std::vector<uint64_t>& keys, uint64_t step,
                   const MixAction& action, MaskedBatch& out) const {
  const int batch = int(keys.size());
  const size_t sample = size_t(channels_) * out_size_ * out_size_;
  const size_t pixel_sample = size_t(planes_) * image_size_ * image_size_;
  if (action.k < 1) throw ConfigError("a mixture needs k >= 1");
  if (!(action.weight_cap > 0 && action.weight_cap <= 1))
    throw ConfigError("a mixture's weight cap must lie in (0, 1]");
  if (action.drop_level < options_.drop_level)
    throw ConfigError("an action cannot keep channels the masking already removed");
  if (spectrum_ && action.drop_level != options_.drop_level)
    throw ConfigError("mask.domain spectrum masks at mask.drop_level alone (policy.drop_levels 1)");

  // Transform (or copy) every sample once; mixing is linear, so it happens afterwards.
  std::vector<float> unmixed(sample * batch);
  if (transform_)
    transform_->forward(pixels, unmixed.data(), batch * planes_);
  else if (spectrum_)
    spectrum_->forward(pixels, unmixed.data(), batch * planes_);
  else
    std::copy_n(pixels, pixel_sample * batch, unmixed.data());

  out.batch = batch;
  out.k = action.k;
  out.channels = channels_;
  out.size = out_size_;
  out.data.assign(sample * batch, 0.0f);
  out.members.assign(size_t(batch) * action.k, 0);
  out.weights.assign(size_t(batch) * action.k, 0.0f);

  const std::vector<char> zeroed = zeroed_channels(action);
  const size_t plane = size_t(out_size_) * out_size_;
  std::vector<char> subset(channels_);
  std::vector<double> noise(action.noise_epsilon > 0 ? sample : 0);
  for (int i = 0; i < batch; ++i) {
    int* members = out.members.data() + size_t(i) * action.k;
    float* weights = out.weights.data() + size_t(i) * action.k;
    draw_mixture(i, batch, action, keys[i], step, members, weights);
    if (options_.channel_subset > 0) {  // PartialFace-style random channel subset
      std::vector<int> all(channels_);
      std::iota(all.begin(), all.end(), 0);
      Rng rng = Rng::stream(options_.seed, step, keys[i], Purpose::kChannels);
      rng.shuffle(all);
      std::fill(subset.begin(), subset.end(), 0);
      for (int j = 0; j < options_.channel_subset; ++j) subset[all[j]] = 1;
    }
    float* dst = out.data.data() + sample * i;
    for (int c = 0; c < channels_; ++c) {
      const int source_channel = permutation_[c];
      if (zeroed[source_channel] || (options_.channel_subset > 0 && !subset[source_channel]))
        continue;
      float* d = dst + c * plane;
      for (int j = 0; j < action.k; ++j) {
        const float w = weights[j];
        if (w == 0.0f) continue;
        const float* s = unmixed.data() + sample * members[j] + source_channel * plane;
        for (size_t e = 0; e < plane; ++e) d[e] += w * s[e];
      }
    }
    const float gain = mixture_gain(weights, action.k);
    if (gain != 1.0f)
      for (size_t e = 0; e < sample; ++e) dst[e] *= gain;
    if (action.noise_epsilon > 0) {
      const double clip = options_.dp_clip;
      draw_noise(keys[i], step, action.noise_epsilon, noise.data(), sample);
      for (size_t e = 0; e < sample; ++e)
        dst[e] = float(std::clamp(double(dst[e]), -clip, clip) + noise[e]);
    }
    if (options_.sign_flip) {
      Rng rng = Rng::stream(options_.seed, step, keys[i], Purpose::kSigns);
      for (size_t e = 0; e < sample; e += 64) {
        const uint64_t bits = rng.next();
        for (size_t b = 0; b < 64 && e + b < sample; ++b)
          if (bits >> b & 1) dst[e + b] = -dst[e + b];
      }
    }
  }
}

void Masker::to_pixels(const float* sample, float* out) const {
  const size_t pixel_plane = size_t(image_size_) * image_size_;
  if (!transform_) {  // pixels, or the spectrum's high-pass image: already a picture
    std::copy_n(sample, planes_ * pixel_plane, out);
    return;
  }
  const size_t per_plane = transform_->plane_out_size();
  std::vector<double> coeffs(sample, sample + per_plane * planes_), image(planes_ * pixel_plane);
  transform_->inverse(coeffs.data(), image.data(), planes_);
  std::copy(image.begin(), image.end(), out);
}

double main_constituent_similarity(const MaskedBatch& mixed, const MaskedBatch& unmixed) {
  HYMASK_CHECK(mixed.batch == unmixed.batch && mixed.sample_size() == unmixed.sample_size(),
               mixed.batch, unmixed.batch);
  if (mixed.batch == 0) return 0;
  const size_t n = mixed.sample_size();
  double total = 0;
  for (int i = 0; i < mixed.batch; ++i) {
    const float* a = mixed.data.data() + n * size_t(i);
    const float* b = unmixed.data.data() + n * size_t(mixed.members[size_t(i) * mixed.k]);
    double ab = 0, aa = 0, bb = 0;
    for (size_t e = 0; e < n; ++e)
      ab += double(a[e]) * b[e], aa += double(a[e]) * a[e], bb += double(b[e]) * b[e];
    total += aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0;
  }
  return total / mixed.batch;
}

}  // namespace hymask
