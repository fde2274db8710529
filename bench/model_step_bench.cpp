// One training step of the model (backbone + ArcFace loss, backward, SGD with momentum and weight
// decay), with LibTorch's torch::optim::SGD and with hymask's FusedSgd (core/nn/sgd.h), in one
// run: same parameters, same batch, forward, backward and optimiser step timed separately. Each
// variant goes first in every other round and reports its best round.
//   build/bin/bench_model_step [--threads 2] [--batch 64] [--steps 20] [--rounds 3]
//                              [--backbone resnet-s] [--channels 63] [--size 14] [--classes 423]
#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "core/nn/backbone.h"
#include "core/nn/margin.h"
#include "core/nn/sgd.h"

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct Timing {
  double forward = 0, backward = 0, optimizer = 0;
  double total() const { return forward + backward + optimizer; }
};

struct Setup {
  std::shared_ptr<hymask::nn::Backbone> backbone;
  hymask::nn::MarginHead head{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer;
};

Setup make_setup(const hymask::nn::BackboneOptions& o, int classes, bool fused) {
  torch::manual_seed(1);
  Setup s;
  s.backbone = hymask::nn::make_backbone(o);
  hymask::nn::MarginOptions arcface;
  arcface.scale = 32.0;
  arcface.margin = 0.3;
  s.head = hymask::nn::MarginHead(o.embedding, classes, arcface);
  std::vector<torch::Tensor> params = s.backbone->parameters();
  for (const auto& p : s.head->parameters()) params.push_back(p);
  const auto sgd = torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(5e-4);
  if (fused)
    s.optimizer = std::make_unique<hymask::nn::FusedSgd>(params, sgd);
  else
    s.optimizer = std::make_unique<torch::optim::SGD>(params, sgd);
  return s;
}

Timing run(Setup& s, const torch::Tensor& x, const torch::Tensor& labels,
           const torch::Tensor& weights, int steps) {
  Timing t;
  for (int i = 0; i < steps; ++i) {
    s.optimizer->zero_grad();
    auto mark = Clock::now();
    const torch::Tensor loss = s.head->loss(s.backbone->forward(x), labels, weights);
    t.forward += ms_since(mark);
    mark = Clock::now();
    loss.backward();
    t.backward += ms_since(mark);
    mark = Clock::now();
    s.optimizer->step();
    t.optimizer += ms_since(mark);
  }
  t.forward /= steps;
  t.backward /= steps;
  t.optimizer /= steps;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"One model training step with LibTorch's SGD and with hymask's FusedSgd"};
  int threads = 2, batch = 64, steps = 20, rounds = 3, classes = 423;
  hymask::nn::BackboneOptions o{"resnet-s", 63, 14, 512};
  app.add_option("--threads", threads, "LibTorch threads");
  app.add_option("--batch", batch, "Images per step");
  app.add_option("--steps", steps, "Timed steps per round");
  app.add_option("--rounds", rounds, "Rounds per variant (the best is reported)");
  app.add_option("--backbone", o.name, "resnet-s | iresnet18 | iresnet50");
  app.add_option("--channels", o.in_channels, "Input channels (63: u = 1 masking, DC dropped)");
  app.add_option("--size", o.in_size, "Input side");
  app.add_option("--classes", classes, "Identities of the ArcFace head (423: LFW-disjoint-5)");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);

  torch::manual_seed(2);
  const torch::Tensor x = torch::randn({batch, o.in_channels, o.in_size, o.in_size});
  const torch::Tensor labels = torch::randint(classes, {batch, 2});
  const torch::Tensor weights = torch::full({batch, 2}, 0.5);
  Setup plain = make_setup(o, classes, false), fused = make_setup(o, classes, true);
  run(plain, x, labels, weights, 3);  // warm-up: allocator, oneDNN primitives
  run(fused, x, labels, weights, 3);
  Timing best_plain, best_fused;
  for (int r = 0; r < rounds; ++r) {  // each goes first in every other round
    Timing p, f;
    if (r % 2 == 0) {
      p = run(plain, x, labels, weights, steps);
      f = run(fused, x, labels, weights, steps);
    } else {
      f = run(fused, x, labels, weights, steps);
      p = run(plain, x, labels, weights, steps);
    }
    if (r == 0 || p.total() < best_plain.total()) best_plain = p;
    if (r == 0 || f.total() < best_fused.total()) best_fused = f;
  }
  std::printf("%s, %d x %d x %d input, batch %d, %d classes, %d threads (ms per step)\n",
              o.name.c_str(), o.in_channels, o.in_size, o.in_size, batch, classes, threads);
  std::printf("%-10s %9s %9s %9s %9s %9s\n", "", "forward", "backward", "optimiser", "step",
              "images/s");
  for (const auto& [name, t] : {std::pair{"SGD", best_plain}, std::pair{"FusedSgd", best_fused}})
    std::printf("%-10s %9.1f %9.1f %9.1f %9.1f %9.0f\n", name, t.forward, t.backward, t.optimizer,
                t.total(), batch * 1000.0 / t.total());
  std::printf("optimiser: %.2fx faster; step: %.2fx\n", best_plain.optimizer / best_fused.optimizer,
              best_plain.total() / best_fused.total());
}
