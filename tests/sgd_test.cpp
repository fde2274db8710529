// FusedSgd against torch::optim::SGD run in float64 on the same gradients, and their checkpoints
// interchangeable.
#include "core/nn/sgd.h"

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <sstream>
#include <vector>

namespace hymask::nn {
namespace {

std::vector<torch::Tensor> make_parameters(torch::Dtype dtype) {
  torch::manual_seed(11);
  // A matrix larger than one parallel chunk, a conv weight, a vector.
  std::vector<torch::Tensor> params{torch::randn({512, 300}), torch::randn({8, 4, 3, 3}),
                                    torch::randn({17})};
  for (auto& p : params) p = p.to(dtype).requires_grad_(true);
  return params;
}

void set_gradients(std::vector<torch::Tensor>& params, int step) {
  torch::manual_seed(100 + step);
  for (auto& p : params) {
    torch::Tensor g = torch::randn(p.sizes());
    // A channels-last gradient for the conv weight, as oneDNN's backward can give.
    if (p.dim() == 4) g = g.contiguous(at::MemoryFormat::ChannelsLast);
    p.mutable_grad() = g.to(p.scalar_type());
  }
}

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b).abs().max().item<double>() / (1 + b.abs().max().item<double>());
}

// Steps `from` to `to` of two optimisers, each on its own copy of the same gradients.
void step_both(torch::optim::Optimizer& a, std::vector<torch::Tensor>& a_params,
               torch::optim::Optimizer& b, std::vector<torch::Tensor>& b_params, int from, int to) {
  for (int step = from; step < to; ++step) {
    set_gradients(a_params, step);
    set_gradients(b_params, step);
    a.step();
    b.step();
  }
}

TEST(FusedSgd, MatchesLibTorchSgdInFloat64) {
  for (const auto& options : {torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4),
                              torch::optim::SGDOptions(0.05).momentum(0.8).dampening(0.1),
                              torch::optim::SGDOptions(0.05).momentum(0.9).nesterov(true),
                              torch::optim::SGDOptions(0.2).weight_decay(1e-3)}) {
    auto fused_params = make_parameters(torch::kFloat);
    auto reference_params = make_parameters(torch::kDouble);
    FusedSgd fused(fused_params, options);
    torch::optim::SGD reference(reference_params, options);
    step_both(fused, fused_params, reference, reference_params, 0, 5);
    for (size_t i = 0; i < fused_params.size(); ++i)
      EXPECT_LT(relative_error(fused_params[i], reference_params[i]), 1e-6)
          << "parameter " << i << ", momentum " << options.momentum() << ", nesterov "
          << options.nesterov();
  }
}

TEST(FusedSgd, CheckpointsAreInterchangeableWithLibTorchSgd) {
  const auto options = torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4);
  auto fused_params = make_parameters(torch::kFloat);
  auto plain_params = make_parameters(torch::kFloat);
  FusedSgd fused(fused_params, options);
  torch::optim::SGD plain(plain_params, options);
  step_both(fused, fused_params, plain, plain_params, 0, 3);
  // Fused's state into a LibTorch SGD; both go on and must stay together.
  std::stringstream saved;
  {
    torch::serialize::OutputArchive archive;
    fused.save(archive);
    archive.save_to(saved);
  }
  auto resumed_params = make_parameters(torch::kFloat);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < resumed_params.size(); ++i) resumed_params[i].copy_(fused_params[i]);
  }
  torch::optim::SGD resumed(resumed_params, options);
  torch::serialize::InputArchive archive;
  archive.load_from(saved);
  resumed.load(archive);
  step_both(resumed, resumed_params, plain, plain_params, 3, 6);
  for (size_t i = 0; i < plain_params.size(); ++i)
    EXPECT_LT(relative_error(resumed_params[i], plain_params[i].to(torch::kDouble)), 1e-6);
}

}  // namespace
}  // namespace hymask::nn
