// Additive-margin classification heads of face recognition, on L2-normalised embeddings and class
// centres (cos_j = <e/|e|, w_j/|w_j|>):
//   ArcFace (Deng et al., CVPR 2019): target logit s * cos(theta_y + m)
//   CosFace (Wang et al., CVPR 2018): target logit s * (cos(theta_y) - m)
// other logits s * cos_j. The loss of a mixed sample with constituents y_1..y_k and weights
// lambda_j is sum_j lambda_j * CE(logits with the margin at y_j, y_j) (DESIGN.md, step 4).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>

namespace hymask::nn {

enum class MarginKind { kArcFace, kCosFace };
MarginKind parse_margin_kind(const std::string& name);  // arcface | cosface

struct MarginOptions {
  MarginKind kind = MarginKind::kArcFace;
  double scale = 64.0;
  double margin = 0.5;
};

class MarginHeadImpl : public torch::nn::Module {
 public:
  MarginHeadImpl(int embedding, int classes, MarginOptions options);

  // B x classes cosine similarities.
  torch::Tensor cosine(const torch::Tensor& embedding) const;
  // B x classes logits with the margin applied at `target` (int64, B).
  torch::Tensor logits(const torch::Tensor& cosine, const torch::Tensor& target) const;
  // Mean over the batch of sum_j weights[:, j] * CE_j; labels int64 B x k, weights float B x k.
  torch::Tensor loss(const torch::Tensor& embedding, const torch::Tensor& labels,
                     const torch::Tensor& weights) const;

  const MarginOptions& options() const { return options_; }
  torch::Tensor weight;  // classes x embedding

 private:
  MarginOptions options_;
};
TORCH_MODULE(MarginHead);

}  // namespace hymask::nn
