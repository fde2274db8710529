// The learned reconstruction attack: a small U-Net that maps the linear attack's image of a
// protected sample to the face behind it (for a mixture: its largest-weight constituent). It is
// trained only on public faces masked the same way, then applied to the training samples.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/types.h>

#include <array>
#include <functional>
#include <vector>

#include "attack/observations.h"

namespace hymask::attack {

// What an attacker knows of a sample's action where a run chose one per batch (the action history,
// and hymask mask's manifest.json, record it): k, the weight scheme, the drop level and the noise,
// as constant input planes of the network.
constexpr int kActionFeatures = 4;
std::array<float, kActionFeatures> action_features(const MixAction& action);

// Three levels (width, 2 width, 4 width channels) on the image at 1/4 resolution, skip
// connections, and a residual output: the network learns a coarse correction to the linear image.
// The input is the linear image's `planes`, then `conditions` planes it may read (the action).
class ReconstructionNetImpl : public torch::nn::Module {
 public:
  ReconstructionNetImpl(int planes, int width, int conditions = 0);
  torch::Tensor forward(const torch::Tensor& input);

 private:
  int planes_;
  torch::nn::Sequential enc1{nullptr}, enc2{nullptr}, enc3{nullptr}, dec2{nullptr}, dec1{nullptr};
  torch::nn::ConvTranspose2d up3{nullptr}, up2{nullptr};
  torch::nn::Conv2d out{nullptr};
};
TORCH_MODULE(ReconstructionNet);

// An identity loss on a batch of reconstructions and their targets (both B x planes x S x S,
// pixels / 128): for example 1 - cosine of a face model's embeddings.
using IdentityLoss =
    std::function<torch::Tensor(const torch::Tensor& reconstruction, const torch::Tensor& target)>;

struct ReconstructionOptions {
  int epochs = 30;   // at most; training stops earlier once the held-out loss stops falling
  int patience = 2;  // epochs without a held-out improvement of min_improvement make a plateau
  double min_improvement = 0.01;  // relative
  // Plateaus met by halving the learning rate before the next one stops training: Adam at a fixed
  // rate stalls on noise, and stopping there left the attack's strength to chance (hits on one
  // trained run ranged 11-22 % over attack seeds).
  int lr_halvings = 3;
  int held_out = 400;  // public faces kept out of training to judge convergence
  int width = 16;
  int batch_size = 16;  // SGD batch
  int mask_batch = 32;  // the run's batch: mixing partners come from it
  double lr = 2e-3;
  uint64_t seed = 1;
  int threads = 2;
  IdentityLoss identity;       // optional
  double identity_weight = 0;  // its weight against the L1 pixel loss
  // The network reads each sample's action (the attacker knows it from the run's history). It
  // lowers the held-out error on mixed runs; a specialist network per action still finds more
  // (docs/RESULTS.md, "The attack stopped at chance").
  bool knows_action = false;
};

struct ReconstructionEpoch {
  int epoch = 0;
  double train_l1 = 0, held_out_l1 = 0, seconds = 0;
  double lr = 0;  // the learning rate of this epoch
};

struct TrainedReconstruction {
  ReconstructionNet net{nullptr};
  std::vector<ReconstructionEpoch> curve;  // the learning curve
  int best_epoch = 0;                      // whose weights `net` holds
};

// Trains on `public_faces`: each epoch masks them afresh (new partners, weights, noise) with
// `action_at`, so the network sees the method's whole distribution, until the L1 error on held-out
// public faces (one fixed masking draw) stops falling: each plateau halves the learning rate, and
// the plateau after `lr_halvings` of them ends training. Keeps the best held-out epoch's weights.
// Logs progress.
TrainedReconstruction train_reconstruction(const FaceSet& public_faces, const Masker& masker,
                                           const ActionAt& action_at, const LinearAttack& linear,
                                           const ReconstructionOptions& options);

// Applies the network to linear images (count x planes x S x S, centred); same layout out.
// `actions` (one per image) are given to a network trained with knows_action, and empty otherwise.
std::vector<float> reconstruct(ReconstructionNet& net, const std::vector<float>& linear,
                               const std::vector<MixAction>& actions, int planes, int size);

}  // namespace hymask::attack
