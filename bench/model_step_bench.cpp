// One training step of the model (backbone + ArcFace loss, backward, SGD with momentum and weight
// decay) in three variants, in one run: LibTorch alone (its modules, torch::optim::SGD); with
// hymask's FusedSgd (core/nn/sgd.h); and with FusedSgd and resnet-s's trunk through oneDNN
// (core/nn/onednn_trunk.h, where built with it). Same parameters, same batch; forward, backward
// and optimiser step timed separately. The variants take turns going first, round by round, and
// each reports its best round.
//   build/bin/bench_model_step [--threads 2] [--batch 64] [--steps 20] [--rounds 3]
//                              [--backbone resnet-s] [--channels 63] [--size 14] [--classes 423]
//                              [--only LibTorch|FusedSgd|FusedSgd+oneDNN]
#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

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

struct Variant {
  const char* name;
  bool onednn, fused;
};

Setup make_setup(hymask::nn::BackboneOptions o, int classes, const Variant& v) {
  torch::manual_seed(1);
  Setup s;
  o.onednn = v.onednn;
  s.backbone = hymask::nn::make_backbone(o);
  hymask::nn::MarginOptions arcface;
  arcface.scale = 32.0;
  arcface.margin = 0.3;
  s.head = hymask::nn::MarginHead(o.embedding, classes, arcface);
  std::vector<torch::Tensor> params = s.backbone->parameters();
  for (const auto& p : s.head->parameters()) params.push_back(p);
  const auto sgd = torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(5e-4);
  if (v.fused)
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
  CLI::App app{"One model training step: LibTorch alone, with FusedSgd, with the oneDNN trunk"};
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
  std::string only;
  app.add_option("--only", only, "Run this variant alone (for profiling)");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);

  torch::manual_seed(2);
  const torch::Tensor x = torch::randn({batch, o.in_channels, o.in_size, o.in_size});
  const torch::Tensor labels = torch::randint(classes, {batch, 2});
  const torch::Tensor weights = torch::full({batch, 2}, 0.5);
  std::vector<Variant> variants{{"LibTorch", false, false}, {"FusedSgd", false, true}};
#ifdef HYMASK_HAVE_ONEDNN
  variants.push_back({"FusedSgd+oneDNN", true, true});
#endif
  if (!only.empty()) {
    variants.erase(std::remove_if(variants.begin(), variants.end(),
                                  [&](const Variant& v) { return v.name != only; }),
                   variants.end());
    if (variants.empty()) {
      std::fprintf(stderr, "--only: no variant named '%s'\n", only.c_str());
      return 2;
    }
  }
  std::vector<Setup> setups;
  for (const Variant& v : variants) {
    setups.push_back(make_setup(o, classes, v));
    run(setups.back(), x, labels, weights, 3);  // warm-up: allocator, oneDNN primitives
  }
  std::vector<Timing> best(variants.size());
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < variants.size(); ++k) {
      const size_t i = (k + r) % variants.size();  // a different variant first in each round
      const Timing t = run(setups[i], x, labels, weights, steps);
      if (r == 0 || t.total() < best[i].total()) best[i] = t;
    }
  }
  std::printf("%s, %d x %d x %d input, batch %d, %d classes, %d threads (ms per step)\n",
              o.name.c_str(), o.in_channels, o.in_size, o.in_size, batch, classes, threads);
  std::printf("%-16s %9s %9s %9s %9s %9s %9s\n", "", "forward", "backward", "optimiser", "step",
              "images/s", "speed-up");
  for (size_t i = 0; i < variants.size(); ++i)
    std::printf("%-16s %9.1f %9.1f %9.1f %9.1f %9.0f %8.2fx\n", variants[i].name, best[i].forward,
                best[i].backward, best[i].optimizer, best[i].total(),
                batch * 1000.0 / best[i].total(), best[0].total() / best[i].total());
}
