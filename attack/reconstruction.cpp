#include "attack/reconstruction.h"

#include <spdlog/spdlog.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/activation.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <stdexcept>

namespace hymask::attack {
namespace nnf = torch::nn::functional;

namespace {

torch::nn::Sequential double_conv(int in, int out) {
  return torch::nn::Sequential(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)), torch::nn::ReLU(),
      torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1)), torch::nn::ReLU());
}

// Pixels are centred (-128..127); the network works on [-1, 1].
constexpr float kScale = 128.0f;

// The network's input: linear images (b x planes x S x S, centred) on [-1, 1].
torch::Tensor network_input(const float* linear, int64_t b, int64_t planes, int64_t size) {
  return torch::from_blob(const_cast<float*>(linear), {b, planes, size, size}) / kScale;
}

bool same_action(const MixAction& a, const MixAction& b) {
  return a.k == b.k && a.weights == b.weights && a.drop_level == b.drop_level &&
         a.noise_epsilon == b.noise_epsilon && a.weight_cap == b.weight_cap;
}

}  // namespace

ReconstructionNetImpl::ReconstructionNetImpl(int planes, int width) {
  enc1 = register_module("enc1", double_conv(planes, width));
  enc2 = register_module("enc2", double_conv(width, 2 * width));
  enc3 = register_module("enc3", double_conv(2 * width, 4 * width));
  up3 = register_module("up3",
                        torch::nn::ConvTranspose2d(
                            torch::nn::ConvTranspose2dOptions(4 * width, 2 * width, 2).stride(2)));
  dec2 = register_module("dec2", double_conv(4 * width, 2 * width));
  up2 = register_module(
      "up2",
      torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(2 * width, width, 2).stride(2)));
  dec1 = register_module("dec1", double_conv(2 * width, width));
  out = register_module("out", torch::nn::Conv2d(torch::nn::Conv2dOptions(width, planes, 1)));
}

torch::Tensor ReconstructionNetImpl::forward(const torch::Tensor& input) {
  // The network sees the image at a quarter of its resolution and returns a correction that is
  // upsampled and added to the input: what the masking hides (8 x 8 block means, the other
  // constituents' shapes) is coarse, and the fine detail the linear image already has stays.
  // 1/16 of the cost of full resolution, which is what makes it trainable on a 2-core CPU.
  const int64_t height = input.size(2), width = input.size(3);
  const torch::Tensor x = torch::avg_pool2d(input, 4);
  const auto pool = nnf::MaxPool2dFuncOptions(2);
  const torch::Tensor a = enc1->forward(x);
  const torch::Tensor b = enc2->forward(nnf::max_pool2d(a, pool));
  const torch::Tensor c = enc3->forward(nnf::max_pool2d(b, pool));
  // Sizes that do not halve evenly (odd levels) are cropped back after each upsampling.
  torch::Tensor u = up3->forward(c).narrow(2, 0, b.size(2)).narrow(3, 0, b.size(3));
  u = dec2->forward(torch::cat({u, b}, 1));
  u = up2->forward(u);
  u = torch::constant_pad_nd(u, {0, a.size(3) - u.size(3), 0, a.size(2) - u.size(2)});
  u = dec1->forward(torch::cat({u, a}, 1));
  const torch::Tensor correction =
      nnf::interpolate(out->forward(u), nnf::InterpolateFuncOptions()
                                            .size(std::vector<int64_t>{height, width})
                                            .mode(torch::kBilinear)
                                            .align_corners(false));
  return input + correction;
}

TrainedReconstruction train_reconstruction(const FaceSet& public_faces, const Masker& masker,
                                           const ActionAt& action_at, const LinearAttack& linear,
                                           const ReconstructionOptions& options) {
  const int64_t planes = public_faces.planes, size = public_faces.size;
  // The held-out faces (the last ones of the set, which comes shuffled), masked once: every
  // restart is judged on the same draw.
  const size_t held =
      std::min<size_t>(size_t(std::max(0, options.held_out)), public_faces.count() / 5);
  const FaceSet train_faces = subset(public_faces, 0, public_faces.count() - held);
  const FaceSet held_faces = subset(public_faces, public_faces.count() - held, held);
  const Observations held_obs =
      observe(held_faces, masker, action_at, linear, 1, options.mask_batch, options.seed + 977,
              uint64_t(1) << 41, 0, options.threads);
  // The targets of observations (each sample's largest-weight constituent), pixels / 128.
  const auto targets = [&](const FaceSet& faces, const Observations& obs, int64_t first,
                           int64_t b) {
    std::vector<float> out;
    out.reserve(size_t(b) * obs.image_floats);
    for (int64_t i = first; i < first + b; ++i)
      out.insert(out.end(), faces.image(obs.top(i)), faces.image(obs.top(i)) + obs.image_floats);
    return torch::from_blob(out.data(), {b, planes, size, size}).clone() / kScale;
  };
  const auto inputs = [&](const Observations& obs, int64_t first, int64_t b) {
    return network_input(obs.linear_image(first), b, planes, size);
  };
  const auto held_out_l1 = [&](ReconstructionNet& net) {
    torch::NoGradGuard no_grad;
    net->eval();
    double total = 0;
    const int64_t count = int64_t(held_obs.count());
    for (int64_t first = 0; first < count; first += 64) {
      const int64_t b = std::min<int64_t>(64, count - first);
      total += nnf::l1_loss(net->forward(inputs(held_obs, first, b)),
                            targets(held_faces, held_obs, first, b))
                   .item<double>() *
               double(b);
    }
    net->train();
    return total / double(std::max<int64_t>(1, count));
  };

  TrainedReconstruction trained;
  double kept = std::numeric_limits<double>::infinity();  // the kept network's held-out L1
  const int restarts = std::max(1, options.restarts);
  for (int restart = 0; restart < restarts; ++restart) {
    // Restart 0 draws exactly what a single training draws; the others start elsewhere.
    const uint64_t seed = options.seed + uint64_t(restart) * 1000003;
    torch::manual_seed(seed);
    ReconstructionNet net(public_faces.planes, options.width);
    torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(options.lr));
    const auto start = std::chrono::steady_clock::now();
    // `best` is this restart's lowest held-out L1 (its weights are kept); `progress` the last
    // level it fell below by min_improvement, which plateaus are counted from.
    double best = std::numeric_limits<double>::infinity(), progress = best;
    int best_epoch = 0;
    std::vector<torch::Tensor> best_weights;
    for (const torch::Tensor& p : net->parameters()) best_weights.push_back(p.detach().clone());
    double lr = options.lr;
    int stale = 0, halvings = 0;
    for (int epoch = 0; epoch < options.epochs; ++epoch) {
      // Fresh draws every epoch: step numbers never reused.
      const Observations obs = observe(
          train_faces, masker, action_at, linear, 1, options.mask_batch, seed + uint64_t(epoch),
          uint64_t(1) << 40 | uint64_t(epoch) << 20, 0, options.threads);
      double total = 0;
      const int64_t count = int64_t(obs.count());
      for (int64_t first = 0; first < count; first += options.batch_size) {
        const int64_t b = std::min<int64_t>(options.batch_size, count - first);
        const torch::Tensor y = targets(train_faces, obs, first, b);
        optimizer.zero_grad();
        const torch::Tensor out = net->forward(inputs(obs, first, b));
        const torch::Tensor l1 = nnf::l1_loss(out, y);
        torch::Tensor loss = l1;
        if (options.identity && options.identity_weight > 0)
          loss = loss + options.identity_weight * options.identity(out, y);
        loss.backward();
        optimizer.step();
        total += l1.item<double>() * double(b);
      }
      ReconstructionEpoch record;
      record.restart = restart + 1;
      record.epoch = epoch + 1;
      record.lr = lr;
      record.train_l1 = total / double(std::max<int64_t>(1, count));
      record.held_out_l1 = held > 0 ? held_out_l1(net) : record.train_l1;
      record.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      trained.curve.push_back(record);
      spdlog::info(
          "reconstruction network{}: epoch {}/{} | L1 {:.4f}, held-out {:.4f} (pixels/128) | lr "
          "{:.2g} | {:.0f} s",
          restarts > 1 ? fmt::format(" (restart {}/{})", restart + 1, restarts) : "", record.epoch,
          options.epochs, record.train_l1, record.held_out_l1, lr, record.seconds);
      if (held == 0 || record.held_out_l1 < best) {
        best = record.held_out_l1;
        best_epoch = record.epoch;
        torch::NoGradGuard no_grad;
        const std::vector<torch::Tensor> params = net->parameters();
        for (size_t i = 0; i < params.size(); ++i) best_weights[i].copy_(params[i]);
      }
      if (held == 0 || record.held_out_l1 < progress * (1 - options.min_improvement)) {
        progress = record.held_out_l1;
        stale = 0;
      } else if (++stale >= options.patience) {
        if (halvings == options.lr_halvings) {
          spdlog::info("reconstruction network: held-out L1 no longer falls; epoch {} kept",
                       best_epoch);
          break;
        }
        ++halvings;
        lr /= 2;
        stale = 0;
        for (auto& group : optimizer.param_groups())
          static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      }
    }
    // The first restart is kept even untrained (epochs = 0); a later one only when it does better
    // on the held-out faces.
    if (trained.net && !(best < kept)) continue;
    {
      torch::NoGradGuard no_grad;
      const std::vector<torch::Tensor> params = net->parameters();
      for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best_weights[i]);
    }
    net->eval();
    trained.net = net;
    trained.best_restart = restart + 1;
    trained.best_epoch = best_epoch;
    kept = best;
  }
  if (restarts > 1)
    spdlog::info("reconstruction network: restart {} of {} kept (held-out L1 {:.4f})",
                 trained.best_restart, restarts, kept);
  return trained;
}

const ReconstructionEpoch* TrainedReconstruction::kept() const {
  for (const ReconstructionEpoch& e : curve)
    if (e.restart == best_restart && e.epoch == best_epoch) return &e;
  return nullptr;
}

std::vector<float> reconstruct(ReconstructionNet& net, const std::vector<float>& linear, int planes,
                               int size) {
  torch::NoGradGuard no_grad;
  net->eval();
  const int64_t per = int64_t(planes) * size * size, count = int64_t(linear.size()) / per;
  std::vector<float> out(linear.size());
  for (int64_t first = 0; first < count; first += 64) {
    const int64_t b = std::min<int64_t>(64, count - first);
    const torch::Tensor x = network_input(linear.data() + first * per, b, planes, size);
    const torch::Tensor y = (net->forward(x) * kScale).clamp(-128, 127).contiguous();
    std::copy_n(y.data_ptr<float>(), b * per, out.data() + first * per);
  }
  return out;
}

ReconstructionByAction reconstruct_by_action(const FaceSet& public_faces, const Masker& masker,
                                             const LinearAttack& linear,
                                             const ReconstructionOptions& options,
                                             const std::vector<float>& linear_images,
                                             const std::vector<MixAction>& actions) {
  const size_t per = public_faces.image_floats();
  if (linear_images.size() != actions.size() * per)
    throw std::invalid_argument("reconstruct_by_action: one action per linear image");
  ReconstructionByAction result;
  std::vector<ActionReconstruction>& specialists = result.specialists;
  for (size_t i = 0; i < actions.size(); ++i) {
    auto it = std::find_if(specialists.begin(), specialists.end(),
                           [&](const auto& s) { return same_action(s.action, actions[i]); });
    if (it == specialists.end()) {
      specialists.emplace_back();
      specialists.back().action = actions[i];
      it = specialists.end() - 1;
    }
    it->samples.push_back(i);
  }
  result.images.resize(linear_images.size());
  for (size_t s = 0; s < specialists.size(); ++s) {
    ActionReconstruction& specialist = specialists[s];
    const MixAction action = specialist.action;
    spdlog::info("reconstruction network {}/{}: {} ({} samples)", s + 1, specialists.size(),
                 action_name(action), specialist.samples.size());
    const auto start = std::chrono::steady_clock::now();
    specialist.trained = train_reconstruction(
        public_faces, masker, [action](uint64_t) { return action; }, linear, options);
    specialist.train_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<float> mine;
    mine.reserve(specialist.samples.size() * per);
    for (size_t i : specialist.samples)
      mine.insert(mine.end(), linear_images.begin() + i * per,
                  linear_images.begin() + (i + 1) * per);
    const std::vector<float> out =
        reconstruct(specialist.trained.net, mine, public_faces.planes, public_faces.size);
    for (size_t j = 0; j < specialist.samples.size(); ++j)
      std::copy_n(out.begin() + j * per, per, result.images.begin() + specialist.samples[j] * per);
  }
  return result;
}

}  // namespace hymask::attack
