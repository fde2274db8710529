#include "core/nn/margin.h"

#include <torch/nn/functional/loss.h>
#include <torch/nn/functional/normalization.h>
#include <torch/nn/init.h>

#include <cmath>

#include "core/error.h"

namespace hymask::nn {

namespace F = torch::nn::functional;

MarginKind parse_margin_kind(const std::string& name) {
  if (name == "arcface") return MarginKind::kArcFace;
  if (name == "cosface") return MarginKind::kCosFace;
  throw ConfigError("model.head must be arcface or cosface, not '" + name + "'");
}

MarginHeadImpl::MarginHeadImpl(int embedding, int classes, MarginOptions options)
    : options_(options) {
  if (classes < 2) throw ConfigError("a margin head needs at least 2 identities");
  weight = register_parameter("weight", torch::empty({classes, embedding}));
  torch::nn::init::normal_(weight, 0.0, 0.01);
}

torch::Tensor MarginHeadImpl::cosine(const torch::Tensor& embedding) const {
  return torch::mm(F::normalize(embedding, F::NormalizeFuncOptions().dim(1)),
                   F::normalize(weight, F::NormalizeFuncOptions().dim(1)).t());
}

torch::Tensor MarginHeadImpl::logits(const torch::Tensor& cosine,
                                     const torch::Tensor& target) const {
  const double s = options_.scale, m = options_.margin;
  const torch::Tensor index = target.view({-1, 1});
  const torch::Tensor cos_y = cosine.gather(1, index);
  torch::Tensor with_margin;
  if (options_.kind == MarginKind::kCosFace) {
    with_margin = cos_y - m;
  } else {
    // cos(theta + m) = cos cos m - sin sin m; beyond theta = pi - m, where theta + m would wrap
    // past pi, use the linear fallback cos - m sin m (keeps the logit decreasing in theta).
    const torch::Tensor sin_y = torch::sqrt(torch::clamp(1.0 - cos_y * cos_y, 1e-12, 1.0));
    const torch::Tensor phi = cos_y * std::cos(m) - sin_y * std::sin(m);
    with_margin = torch::where(cos_y > std::cos(M_PI - m), phi, cos_y - std::sin(M_PI - m) * m);
  }
  return (s * cosine).scatter(1, index, s * with_margin);
}

torch::Tensor MarginHeadImpl::loss(const torch::Tensor& embedding, const torch::Tensor& labels,
                                   const torch::Tensor& weights) const {
  const torch::Tensor cos = cosine(embedding);
  torch::Tensor total = torch::zeros({embedding.size(0)}, embedding.options());
  for (int64_t j = 0; j < labels.size(1); ++j) {
    const torch::Tensor target = labels.select(1, j);
    const torch::Tensor ce = F::cross_entropy(logits(cos, target), target,
                                              F::CrossEntropyFuncOptions().reduction(torch::kNone));
    total = total + weights.select(1, j) * ce;
  }
  return total.mean();
}

}  // namespace hymask::nn
