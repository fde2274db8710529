// The learned reconstruction attack: a small U-Net that maps the linear attack's image of a
// protected sample to the face behind it (for a mixture: its largest-weight constituent). It is
// trained only on public faces masked the same way, then applied to the training samples.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/types.h>

#include <functional>
#include <vector>

#include "attack/observations.h"

namespace hymask::attack {

// Three levels (width, 2 width, 4 width channels) on the image at 1/4 resolution, skip
// connections, and a residual output: the network learns a coarse correction to the linear image.
class ReconstructionNetImpl : public torch::nn::Module {
 public:
  ReconstructionNetImpl(int planes, int width);
  torch::Tensor forward(const torch::Tensor& input);

 private:
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
  // Networks trained from different initialisations and data orders; the one with the lowest
  // held-out L1 is kept. One training can stall far above the others (one action's network
  // identified 16 % of its targets where others of the same action found 24-27 %).
  int restarts = 1;
  int width = 16;
  int batch_size = 16;  // SGD batch
  int mask_batch = 32;  // the run's batch: mixing partners come from it
  double lr = 2e-3;
  uint64_t seed = 1;
  int threads = 2;
  IdentityLoss identity;       // optional
  double identity_weight = 0;  // its weight against the L1 pixel loss
};

struct ReconstructionEpoch {
  int restart = 1;  // which training (1-based) this epoch belongs to
  int epoch = 0;
  double train_l1 = 0, held_out_l1 = 0, seconds = 0;
  double lr = 0;  // the learning rate of this epoch
};

struct TrainedReconstruction {
  ReconstructionNet net{nullptr};
  std::vector<ReconstructionEpoch> curve;  // every restart's learning curve, one after another
  int best_restart = 1;                    // whose weights `net` holds: this restart's
  int best_epoch = 0;                      // epoch (0: untrained)
  // That epoch's record; null when no epoch was trained.
  const ReconstructionEpoch* kept() const;
};

// Trains on `public_faces`: each epoch masks them afresh (new partners, weights, noise) with
// `action_at`, so the network sees the method's whole distribution, until the L1 error on held-out
// public faces (one fixed masking draw) stops falling: each plateau halves the learning rate, and
// the plateau after `lr_halvings` of them ends training. Keeps the best held-out epoch's weights,
// and of `restarts` such trainings the best one. Logs progress.
TrainedReconstruction train_reconstruction(const FaceSet& public_faces, const Masker& masker,
                                           const ActionAt& action_at, const LinearAttack& linear,
                                           const ReconstructionOptions& options);

// Applies the network to linear images (count x planes x S x S, centred); same layout out.
std::vector<float> reconstruct(ReconstructionNet& net, const std::vector<float>& linear, int planes,
                               int size);

// One action's network (a specialist) and the samples it reconstructed.
struct ActionReconstruction {
  MixAction action;
  std::vector<size_t> samples;  // positions among the linear images made with this action
  TrainedReconstruction trained;
  double train_seconds = 0;
};

struct ReconstructionByAction {
  std::vector<float> images;                      // one per linear image, the same layout
  std::vector<ActionReconstruction> specialists;  // in the order their actions first appear
};

// The learned attack on samples made under one action or several (an adaptive run). The attacker
// knows each sample's action (the run's action history, hymask mask's manifest), so it trains one
// network per action, on public faces masked with that action alone, and reconstructs each sample
// with its own action's network. One network for all actions, even one told the action, learns
// each less well and found fewer identities on a mixed run (docs/RESULTS.md, "The attack stopped
// at chance"). `actions` holds one action per linear image.
ReconstructionByAction reconstruct_by_action(const FaceSet& public_faces, const Masker& masker,
                                             const LinearAttack& linear,
                                             const ReconstructionOptions& options,
                                             const std::vector<float>& linear_images,
                                             const std::vector<MixAction>& actions);

}  // namespace hymask::attack
