// `hymask attack`: every attack of the suite on one trained run, scored against the training
// images it protects. White box: the attacker knows the method and its parameters (the run's
// config) and the trained model; not the secret draws (partners, weights, noise, policy samples).
//
//   linear              least-squares inversion of the known transform (core/linear_attack.h)
//   multi_observation   cluster-and-average over the epochs the attacker watches; each image is
//                       scored by its best candidate by SSIM to the image itself, a choice the
//                       attacker cannot make: an upper bound over a pool that grows with the
//                       samples a face enters (k x epochs), so its identity hits do not rank
//                       mixing settings
//   reconstruction      a U-Net trained on public faces (LFW people with 1-4 images)
//   model_inversion     optimised inputs that the run's FR model assigns to chosen identities
//
// Scores: SSIM and PSNR of each reconstruction against its source image (for a mixture, its
// largest-weight constituent; also the best-matching constituent), and the identity-hit rate: the
// share of reconstructions that an independent evaluator FR model (trained on the raw training
// images) assigns to the right person. Writes OUT/attack.json and OUT/grid.png.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hymask::attack {

struct AttackRequest {
  std::filesystem::path run;        // a hymask train --out folder
  std::filesystem::path evaluator;  // a run of mask.method none on the same training data
  std::filesystem::path out;
  std::vector<std::string> overrides;  // attack.* keys
};

nlohmann::json run_attacks(const AttackRequest& request);

}  // namespace hymask::attack
