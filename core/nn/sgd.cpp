#include "core/nn/sgd.h"

#include <ATen/Parallel.h>
#include <c10/util/string_utils.h>
#include <torch/autograd.h>

#include <memory>
#include <string>

namespace hymask::nn {
namespace {

using torch::optim::SGDOptions;

// The arithmetic of torch::optim::SGD::step, for one parameter:
//   d = g + wd p;  buf = first ? d : momentum buf + (1 - dampening) d;
//   p -= lr (nesterov ? d + momentum buf : buf)   (without momentum: p -= lr d).
void update_fused(float* __restrict p, const float* __restrict g, float* __restrict buf, int64_t n,
                  const SGDOptions& o, bool first) {
  const float lr = float(o.lr()), wd = float(o.weight_decay()), momentum = float(o.momentum());
  const float keep = float(1 - o.dampening());
  const bool nesterov = o.nesterov();
  at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
    if (!buf) {
      for (int64_t i = begin; i < end; ++i) p[i] -= lr * (g[i] + wd * p[i]);
      return;
    }
    for (int64_t i = begin; i < end; ++i) {
      const float d = g[i] + wd * p[i];
      const float b = first ? d : momentum * buf[i] + keep * d;
      buf[i] = b;
      p[i] -= lr * (nesterov ? d + momentum * b : b);
    }
  });
}

// The same with tensor ops, for any other parameter (dtype, device, layout).
void update_with_ops(torch::Tensor& p, const torch::Tensor& g, torch::Tensor& buf,
                     const SGDOptions& o, bool first) {
  torch::Tensor d = o.weight_decay() != 0 ? g.add(p, o.weight_decay()) : g;
  if (buf.defined()) {
    if (first)
      buf.copy_(d);
    else
      buf.mul_(o.momentum()).add_(d, 1 - o.dampening());
    d = o.nesterov() ? d.add(buf, o.momentum()) : buf;
  }
  p.add_(d, -o.lr());
}

}  // namespace

torch::Tensor FusedSgd::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const SGDOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!p.grad().is_sparse(), "FusedSgd does not support sparse gradients");
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto found = state_.find(key);
      const bool first = found == state_.end();
      torch::Tensor buffer;
      if (options.momentum() != 0) {
        if (first) {
          buffer = torch::empty_like(p);
          auto state = std::make_unique<torch::optim::SGDParamState>();
          state->momentum_buffer(buffer);
          state_[key] = std::move(state);
        } else {
          buffer = static_cast<torch::optim::SGDParamState&>(*found->second).momentum_buffer();
        }
      }
      const bool dense_float = p.scalar_type() == torch::kFloat && p.device().is_cpu() &&
                               p.is_contiguous() && (!buffer.defined() || buffer.is_contiguous());
      if (dense_float) {
        const torch::Tensor grad = p.grad().contiguous();
        update_fused(p.data_ptr<float>(), grad.data_ptr<float>(),
                     buffer.defined() ? buffer.data_ptr<float>() : nullptr, p.numel(), options,
                     first);
      } else {
        torch::Tensor data = p.data();
        update_with_ops(data, p.grad(), buffer, options, first);
      }
    }
  }
  return loss;
}

}  // namespace hymask::nn
