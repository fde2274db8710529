#pragma once

#include <torch/optim/sgd.h>

namespace hymask::nn {

// torch::optim::SGD (momentum, dampening, weight decay, Nesterov) whose step updates each dense
// float32 CPU parameter in one pass over parameter, gradient and momentum buffer. LibTorch's step
// makes four passes and allocates a decayed copy of every gradient; on the 8 MB embedding layer
// of resnet-s that was most of the optimiser's time. Same state, so checkpoints are
// interchangeable with torch::optim::SGD's; other parameters are updated with tensor ops.
class FusedSgd : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace hymask::nn
