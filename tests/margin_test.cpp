#include "core/nn/margin.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace hymask::nn {
namespace {

// Naive float64 reference: logits and the mixed loss from their definitions, loop by loop.
struct Reference {
  MarginOptions o;
  int b, e, c;

  double cosine(const std::vector<double>& emb, const std::vector<double>& w, int i, int j) const {
    double dot = 0, ne = 0, nw = 0;
    for (int d = 0; d < e; ++d) {
      dot += emb[i * e + d] * w[j * e + d];
      ne += emb[i * e + d] * emb[i * e + d];
      nw += w[j * e + d] * w[j * e + d];
    }
    return dot / std::sqrt(ne * nw);
  }
  double logit(const std::vector<double>& emb, const std::vector<double>& w, int i, int j,
               int target) const {
    const double cos = cosine(emb, w, i, j);
    if (j != target) return o.scale * cos;
    if (o.kind == MarginKind::kCosFace) return o.scale * (cos - o.margin);
    const double theta = std::acos(cos);
    if (theta + o.margin < M_PI) return o.scale * std::cos(theta + o.margin);
    return o.scale * (cos - std::sin(M_PI - o.margin) * o.margin);
  }
  double loss(const std::vector<double>& emb, const std::vector<double>& w,
              const std::vector<int64_t>& labels, const std::vector<double>& weights, int k) const {
    double total = 0;
    for (int i = 0; i < b; ++i)
      for (int m = 0; m < k; ++m) {
        const int y = int(labels[i * k + m]);
        double denominator = 0;
        for (int j = 0; j < c; ++j) denominator += std::exp(logit(emb, w, i, j, y));
        total += weights[i * k + m] * (std::log(denominator) - logit(emb, w, i, y, y));
      }
    return total / b;
  }
};

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous().to(torch::kFloat64);
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

class MarginHeadTest : public ::testing::TestWithParam<MarginKind> {};

TEST_P(MarginHeadTest, LogitsLossAndGradientsMatchTheFloat64Reference) {
  torch::manual_seed(3);
  const int b = 5, e = 8, c = 7, k = 3;
  MarginOptions o{GetParam(), 16.0, GetParam() == MarginKind::kArcFace ? 0.5 : 0.35};
  MarginHead head(e, c, o);
  head->to(torch::kFloat64);
  torch::Tensor emb = torch::randn({b, e}, torch::kFloat64).requires_grad_(true);
  {
    torch::NoGradGuard no_grad;
    head->weight.copy_(torch::randn({c, e}, torch::kFloat64));
    // theta near (not at) pi for sample 0 and class 2: exercises ArcFace's fallback branch.
    head->weight[2].copy_(-emb[0].detach() + 0.1 * torch::randn({e}, torch::kFloat64));
  }
  const torch::Tensor labels =
      torch::tensor({2, 1, 0, 3, 4, 5, 6, 0, 1, 2, 3, 4, 6, 5, 4}, torch::kInt64).view({b, k});
  torch::Tensor weights = torch::rand({b, k}, torch::kFloat64);
  weights = weights / weights.sum(1, true);

  const Reference ref{o, b, e, c};
  std::vector<double> ev = to_vector(emb), wv = to_vector(head->weight);
  const std::vector<int64_t> lv(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + b * k);
  const std::vector<double> mv = to_vector(weights);

  // Logits for the first constituent's targets.
  const torch::Tensor logits = head->logits(head->cosine(emb), labels.select(1, 0));
  for (int i = 0; i < b; ++i)
    for (int j = 0; j < c; ++j)
      EXPECT_NEAR(logits[i][j].item<double>(), ref.logit(ev, wv, i, j, int(lv[i * k])), 1e-10);

  const torch::Tensor loss = head->loss(emb, labels, weights);
  EXPECT_NEAR(loss.item<double>(), ref.loss(ev, wv, lv, mv, k), 1e-10);

  // Gradients against central differences of the reference.
  loss.backward();
  const std::vector<double> grad_e = to_vector(emb.grad()), grad_w = to_vector(head->weight.grad());
  const double h = 1e-6;
  auto check = [&](std::vector<double>& param, const std::vector<double>& grad) {
    for (size_t p = 0; p < param.size(); ++p) {
      const double saved = param[p];
      param[p] = saved + h;
      const double up = ref.loss(ev, wv, lv, mv, k);
      param[p] = saved - h;
      const double down = ref.loss(ev, wv, lv, mv, k);
      param[p] = saved;
      EXPECT_NEAR(grad[p], (up - down) / (2 * h), 1e-6 * std::max(1.0, std::abs(grad[p])));
    }
  };
  check(ev, grad_e);
  check(wv, grad_w);
}

INSTANTIATE_TEST_SUITE_P(Heads, MarginHeadTest,
                         ::testing::Values(MarginKind::kArcFace, MarginKind::kCosFace));

}  // namespace
}  // namespace hymask::nn
