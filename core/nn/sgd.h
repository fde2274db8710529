#pragma once

#include <torch/optim/sgd.h>

#include <string>

namespace hymask::nn {

// torch::optim::SGD (momentum, dampening, weight decay, Nesterov) whose step updates each dense
// float32 CPU parameter in one pass over parameter, gradient and momentum buffer. LibTorch's step
// makes four passes and allocates a decayed copy of every gradient; on the 8 MB embedding layer
// of resnet-s that was most of the optimiser's time. Same state, so checkpoints are
// interchangeable with torch::optim::SGD's. A step with any other parameter (dtype, device,
// layout, sparse gradient) is LibTorch's own.
class FusedSgd : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;
  torch::Tensor step(LossClosure closure = nullptr) override;
  // Moves the momentum buffers to `device` (after load(), which reads them onto the CPU).
  void to(torch::Device device);

 private:
  bool fusable() const;  // every parameter with a gradient, and its momentum, dense float32 CPU
};

}  // namespace hymask::nn
