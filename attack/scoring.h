// How the attacks score a reconstruction: image similarity to its source, and who an FR model
// (or, without one, the nearest face of a gallery) says it shows.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attack/observations.h"
#include "worker/face_model.h"

namespace hymask::attack {

// Per-plane SSIM and PSNR of a centred image against another, in 0..255.
struct Similarity {
  double ssim = 0, psnr = 0;
};
Similarity compare(const float* a, const float* b, int planes, int size);

// The config of a finished run (config.yaml and checkpoint.pt), with `overrides`; an Error
// naming the folder otherwise.
Config finished_run_config(const std::filesystem::path& run,
                           const std::vector<std::string>& overrides = {});

// The independent evaluator that identifies reconstructions: the trained model of `dir`, a
// finished mask.method=none run on the same data.root, data.split, image size and colour as
// `config` (a ConfigError otherwise), with `classes` identities.
std::unique_ptr<FaceModel> load_evaluator(const std::filesystem::path& dir, const Config& config,
                                          int classes);

// The attacked run's FR model as its evaluation used it: the checkpoint's weights, with
// eval.batchnorm's statistics when `config` re-estimates them (what the deployed model carries).
// `batchnorm` says what they were estimated on (null: the training's own statistics).
struct AttackedModel {
  std::unique_ptr<FaceModel> model;
  nlohmann::json batchnorm;
};
AttackedModel load_attacked_model(const std::filesystem::path& run, const Config& config,
                                  const Masker& masker, int classes);

// An FR model's top-`top_k` identities for each image (count x planes x S x S, centred).
std::vector<std::vector<int>> identify(FaceModel& model, const float* images, int64_t count,
                                       int planes, int size, int top_k);

// The attacker's cheapest identifier, for runs without an independent evaluator: the person of
// the gallery face most like each image (cosine of centred pixels). `exclude[i]` >= 0 is a gallery
// position image i may not match (its own source: the attacker holds other photos of the person,
// not this one). Returns one person per image.
std::vector<int> nearest_person(const FaceSet& gallery, const float* images, size_t count,
                                const std::vector<int>& exclude);

// The hit rate of these answers (one person per target) were they unrelated to their targets:
// the sum over people of (share of answers naming them) x (share of targets showing them). It
// is 1/people for an identifier that guesses evenly, and more when it sends faces that carry no
// identity (a blur, the mean face) to a few "sink" people: the floor a hit rate is read against.
double hit_rate_if_unrelated(const std::vector<int>& answers, const std::vector<int>& truth);

// The same two rates with every person counted once: each person's hit rate over the targets
// showing them, averaged over the people shown. A per-target rate is dominated by the people with
// the most images (on LFW-disjoint-5 the 5 with 100 or more hold 19 % of the targets and half of
// equal pairs' hits); this one says how likely a given person is to be identified.
struct PersonRates {
  double hit = 0;        // mean over people of their hit rate
  double unrelated = 0;  // mean over people of the share of answers naming them
};
PersonRates person_mean_hit_rates(const std::vector<int>& answers, const std::vector<int>& truth);

}  // namespace hymask::attack
