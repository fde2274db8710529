#include "core/nn/sgd.h"

#include <ATen/Parallel.h>
#include <c10/util/string_utils.h>
#include <torch/autograd.h>
#include <torch/version.h>

#include <memory>
#include <string>

namespace hymask::nn {
namespace {

using torch::optim::SGDOptions;
using torch::optim::SGDParamState;

// The arithmetic of torch::optim::SGD::step, for one parameter:
//   d = g + wd p;  buf = first ? d : momentum buf + (1 - dampening) d;
//   p -= lr (nesterov ? d + momentum buf : buf)   (without momentum: p -= lr d).
void update(float* __restrict p, const float* __restrict g, float* __restrict buf, int64_t n,
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

// The key torch::optim::SGD files a parameter's state under: its TensorImpl's address, as text
// before LibTorch 2 and as the pointer itself since.
auto state_key(const torch::Tensor& p) {
#if TORCH_VERSION_MAJOR >= 2
  return static_cast<void*>(p.unsafeGetTensorImpl());
#else
  return c10::guts::to_string(p.unsafeGetTensorImpl());
#endif
}

}  // namespace

void FusedSgd::to(torch::Device device) {
  for (auto& entry : state_) {
    auto& state = static_cast<SGDParamState&>(*entry.second);
    if (state.momentum_buffer().defined())
      state.momentum_buffer(state.momentum_buffer().to(device));
  }
}

bool FusedSgd::fusable() const {
  for (const auto& group : param_groups_)
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (p.scalar_type() != torch::kFloat || !p.device().is_cpu() || !p.is_contiguous() ||
          p.grad().is_sparse())
        return false;
      const auto found = state_.find(state_key(p));
      if (found != state_.end() &&
          !static_cast<const SGDParamState&>(*found->second).momentum_buffer().is_contiguous())
        return false;
    }
  return true;
}

torch::Tensor FusedSgd::step(LossClosure closure) {
  if (!fusable()) return torch::optim::SGD::step(closure);
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
      const auto key = state_key(p);
      auto found = state_.find(key);
      const bool first = found == state_.end();
      torch::Tensor buffer;
      if (options.momentum() != 0) {
        if (first) {
          buffer = torch::empty_like(p);
          auto state = std::make_unique<SGDParamState>();
          state->momentum_buffer(buffer);
          state_[key] = std::move(state);
        } else {
          buffer = static_cast<SGDParamState&>(*found->second).momentum_buffer();
        }
      }
      const torch::Tensor grad = p.grad().contiguous();
      update(p.data_ptr<float>(), grad.data_ptr<float>(),
             buffer.defined() ? buffer.data_ptr<float>() : nullptr, p.numel(), options, first);
    }
  }
  return loss;
}

}  // namespace hymask::nn
