#include "attack/attack_run.h"

#include <spdlog/spdlog.h>
#include <torch/nn/functional/normalization.h>
#include <torch/serialize/archive.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "attack/masking_transform.h"
#include "attack/model_inversion.h"
#include "attack/multi_observation.h"
#include "attack/observations.h"
#include "attack/reconstruction.h"
#include "attack/scoring.h"
#include "core/config.h"
#include "core/data_source.h"
#include "core/error.h"
#include "core/files.h"
#include "worker/face_model.h"

namespace hymask::attack {
namespace fs = std::filesystem;

namespace {

constexpr int kGridColumns = 8;
constexpr int kTopK = 5;

// Scores one reconstruction per observation (the first `count` observations).
nlohmann::json score(const std::vector<float>& images, const Observations& obs, size_t count,
                     const FaceSet& faces, FaceModel& evaluator) {
  const size_t per = faces.image_floats();
  double ssim_top = 0, psnr_top = 0, ssim_best = 0;
  size_t hits = 0, hits_any = 0;
  // Per target, for studies of which faces leak (is it the face, or the draw?).
  std::vector<int> target_face, target_person, target_answer, target_hit, target_k;
  std::vector<double> target_ssim, target_weight;
  const auto predicted =
      identify(evaluator, images.data(), int64_t(count), faces.planes, faces.size, kTopK);
  for (size_t i = 0; i < count; ++i) {
    const float* image = images.data() + per * i;
    const Similarity top = compare(image, faces.image(obs.top(i)), faces.planes, faces.size);
    ssim_top += top.ssim;
    psnr_top += top.psnr;
    double best = top.ssim;
    bool any = false;
    for (int m : obs.members[i]) {
      best = std::max(best, compare(image, faces.image(m), faces.planes, faces.size).ssim);
      any |= predicted[i][0] == faces.labels[m];
    }
    ssim_best += best;
    const bool hit = predicted[i][0] == faces.labels[obs.top(i)];
    hits += hit;
    hits_any += any;
    target_face.push_back(obs.top(i));
    target_person.push_back(faces.labels[obs.top(i)]);
    target_answer.push_back(predicted[i][0]);
    target_hit.push_back(hit);
    target_k.push_back(int(obs.members[i].size()));
    target_ssim.push_back(std::round(top.ssim * 1e4) / 1e4);
    target_weight.push_back(std::round(obs.weights[i][0] * 1e4) / 1e4);
  }
  const double n = double(std::max<size_t>(1, count));
  const PersonRates per_person = person_mean_hit_rates(target_answer, target_person);
  return {{"samples", count},
          {"ssim", ssim_top / n},
          {"psnr", psnr_top / n},
          {"ssim_best_constituent", ssim_best / n},
          {"identity_hit", hits / n},
          {"identity_hit_any_constituent", hits_any / n},
          {"identity_hit_if_unrelated", hit_rate_if_unrelated(target_answer, target_person)},
          {"identity_hit_per_person", per_person.hit},
          {"identity_hit_per_person_if_unrelated", per_person.unrelated},
          {"per_target",
           {{"face", target_face},
            {"k", target_k},
            {"main_weight", target_weight},
            {"ssim", target_ssim},
            {"hit", target_hit},
            {"answer", target_answer}}}};
}

// A result for the log: every figure but the per-target records, which are for attack.json.
std::string log_summary(nlohmann::json result) {
  result.erase("per_target");
  return result.dump();
}

// For each training image, the best of the candidates seeded at observations it takes part in.
nlohmann::json score_recovery(const std::vector<float>& candidates, const Observations& obs,
                              const FaceSet& faces, FaceModel& evaluator, double threshold,
                              std::vector<int>& best_of_image) {
  const size_t per = faces.image_floats();
  std::vector<double> best(faces.count(), -1.0), best_psnr(faces.count(), 0.0);
  best_of_image.assign(faces.count(), -1);
  for (size_t o = 0; o < obs.count(); ++o)
    for (int m : obs.members[o]) {
      const Similarity s =
          compare(candidates.data() + per * o, faces.image(m), faces.planes, faces.size);
      if (s.ssim > best[m]) {
        best[m] = s.ssim;
        best_psnr[m] = s.psnr;
        best_of_image[m] = int(o);
      }
    }
  std::vector<float> chosen;
  size_t recovered = 0, seen = 0;
  double ssim_sum = 0, psnr_sum = 0;
  std::vector<int> truth;
  for (size_t i = 0; i < faces.count(); ++i) {
    if (best_of_image[i] < 0) continue;
    ++seen;
    recovered += best[i] >= threshold;
    ssim_sum += best[i];
    psnr_sum += best_psnr[i];
    chosen.insert(chosen.end(), candidates.data() + per * best_of_image[i],
                  candidates.data() + per * (best_of_image[i] + 1));
    truth.push_back(faces.labels[i]);
  }
  const auto predicted =
      identify(evaluator, chosen.data(), int64_t(truth.size()), faces.planes, faces.size, kTopK);
  size_t hits = 0;
  for (size_t i = 0; i < truth.size(); ++i) hits += predicted[i][0] == truth[i];
  const double n = double(std::max<size_t>(1, seen));
  std::vector<double> per_image;  // for recovered shares at other thresholds
  for (size_t i = 0; i < faces.count(); ++i)
    if (best_of_image[i] >= 0) per_image.push_back(std::round(best[i] * 1e4) / 1e4);
  return {
      {"images", seen},         {"best_ssim_per_image", per_image}, {"ssim_threshold", threshold},
      {"recovered", recovered}, {"recovered_share", recovered / n}, {"ssim", ssim_sum / n},
      {"psnr", psnr_sum / n},   {"identity_hit", hits / n}};
}

}  // namespace

nlohmann::json run_attacks(const AttackRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  const Config config = finished_run_config(request.run, request.overrides);
  const Config::Attack& a = config.attack;
  torch::set_num_threads(std::max(1, config.train.threads));
  const int threads = std::max(1, config.data.threads);
  const Masker masker = make_masker(config);
  const PreprocessOptions preprocess = preprocess_options(config);

  // The training images the run protects, and the attacker's public faces.
  const DataSource source = open_data(config);
  const FaceSet faces = load_targets(config, source, a.targets, threads);
  const int classes = source.dataset->num_classes();
  spdlog::info("targets: {} training images of {} ({} people)", faces.count(), source.description,
               classes);
  if (!fs::exists(a.aux_root))
    throw Error("attack.aux_root " + a.aux_root +
                " does not exist: the attacks need public LFW faces (../shared/data/lfw)");
  const FaceSet public_faces = load_public_faces(config, a.aux_images, threads);
  const std::vector<float> prior = mean_face(public_faces);
  double contrast = 0;
  for (size_t i = 0; i < public_faces.count(); ++i) {
    double sum = 0;
    for (size_t e = 0; e < prior.size(); ++e)
      sum += std::pow(double(public_faces.image(i)[e]) - prior[e], 2);
    contrast += std::sqrt(sum / double(prior.size())) / double(public_faces.count());
  }
  spdlog::info("public faces: {} images of {}", public_faces.count(), a.aux_root);

  // The run's model and the independent evaluator.
  const AttackedModel attacked = load_attacked_model(request.run, config, masker, classes);
  FaceModel& model = *attacked.model;
  const std::unique_ptr<FaceModel> evaluator_model =
      load_evaluator(request.evaluator, config, classes);
  FaceModel& evaluator = *evaluator_model;

  const ActionAt action_at = action_source(config, masker, request.run);
  const LinearAttack linear(masker, prior);
  const size_t n = faces.count();
  const int previews = kGridColumns;

  // Linear attack, and the observations of the multi-observation attack.
  spdlog::info("observing {} epochs of protected samples and inverting each linearly",
               a.observed_epochs);
  const Observations obs = observe(faces, masker, action_at, linear, a.observed_epochs,
                                   config.train.batch_size, config.seed, 0, previews, threads);
  const nlohmann::json linear_result = score(obs.linear, obs, n, faces, evaluator);
  spdlog::info("linear: {}", log_summary(linear_result));

  const bool mixes =
      masker.default_action().k > 1 || parse_method(config.mask.method) == Method::kAdaptive;
  const auto multi_start = std::chrono::steady_clock::now();
  const std::vector<float> candidates =
      cluster_and_average(obs, contrast, a.observed_epochs, mixes);
  std::vector<int> best_candidate;
  nlohmann::json multi =
      score_recovery(candidates, obs, faces, evaluator, a.ssim_threshold, best_candidate);
  multi["observations"] = obs.count();
  multi["epochs"] = a.observed_epochs;
  multi["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - multi_start).count();
  spdlog::info("multi-observation: {}", multi.dump());

  // Learned reconstruction.
  ReconstructionOptions ro;
  ro.epochs = a.reconstruction_epochs;
  ro.width = a.reconstruction_width;
  ro.restarts = a.reconstruction_restarts;
  ro.mask_batch = config.train.batch_size;
  ro.seed = config.seed;
  ro.threads = threads;
  // The identity term: the run's own model (frozen) must see the same person in the
  // reconstruction as in the face, through the run's k = 1 transform.
  const MaskingTransform transform(masker);
  model.train(false);
  for (torch::Tensor& p : model.parameters()) p.set_requires_grad(false);
  ro.identity_weight = a.identity_weight;
  ro.identity = [&](const torch::Tensor& reconstruction, const torch::Tensor& face) {
    const auto embed = [&](const torch::Tensor& x) {
      return torch::nn::functional::normalize(model.backbone->forward(transform(x * 128.0f)),
                                              torch::nn::functional::NormalizeFuncOptions().dim(1));
    };
    torch::Tensor target;
    {
      torch::NoGradGuard no_grad;
      target = embed(face);
    }
    return (1 - (embed(reconstruction) * target).sum(1)).mean();
  };
  const auto train_start = std::chrono::steady_clock::now();
  const ReconstructionByAction learned = reconstruct_by_action(
      public_faces, masker, linear, ro,
      std::vector<float>(obs.linear.begin(), obs.linear.begin() + n * obs.image_floats),
      std::vector<MixAction>(obs.actions.begin(), obs.actions.begin() + n));
  nlohmann::json reconstruction = score(learned.images, obs, n, faces, evaluator);
  reconstruction["public_images"] = public_faces.count();
  reconstruction["identity_weight"] = a.identity_weight;
  reconstruction["train_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
  // Each action's network: its share of the targets, how long it trained, and what it kept.
  std::string curve = "action,restart,epoch,train_l1,held_out_l1,lr,seconds\n";
  reconstruction["networks"] = nlohmann::json::array();
  const nlohmann::json& hit = reconstruction["per_target"]["hit"];
  for (const ActionReconstruction& s : learned.specialists) {
    const TrainedReconstruction& t = s.trained;
    const std::string name = action_name(s.action);
    nlohmann::json network = {{"action", name},
                              {"samples", s.samples.size()},
                              {"epochs", t.curve.size()},
                              {"best_restart", t.best_restart},
                              {"best_epoch", t.best_epoch},
                              {"train_seconds", s.train_seconds}};
    if (const ReconstructionEpoch* kept = t.kept()) network["held_out_l1"] = kept->held_out_l1;
    // Each restart's best held-out L1: how far apart trainings of one action end.
    std::vector<double> restart_l1;
    for (const ReconstructionEpoch& e : t.curve) {
      if (size_t(e.restart) > restart_l1.size())
        restart_l1.push_back(std::numeric_limits<double>::infinity());
      restart_l1.back() = std::min(restart_l1.back(), e.held_out_l1);
    }
    network["restart_held_out_l1"] = restart_l1;
    size_t hits = 0;
    for (size_t i : s.samples) hits += hit[i].get<int>();
    network["identity_hit"] = double(hits) / double(std::max<size_t>(1, s.samples.size()));
    reconstruction["networks"].push_back(network);
    for (const ReconstructionEpoch& e : t.curve)
      curve += fmt::format("{},{},{},{:.6f},{:.6f},{:.3g},{:.1f}\n", name, e.restart, e.epoch,
                           e.train_l1, e.held_out_l1, e.lr, e.seconds);
  }
  fs::create_directories(request.out);
  write_file_atomic(request.out / "reconstruction_curve.csv", curve);
  spdlog::info("reconstruction: {}", log_summary(reconstruction));

  // Model inversion of the run's FR model.
  const int identities =
      a.inversion_identities > 0 ? std::min(a.inversion_identities, classes) : classes;
  std::vector<int> labels(identities);
  std::iota(labels.begin(), labels.end(), 0);
  InversionOptions io;
  io.steps = a.inversion_steps;
  io.lr = a.inversion_lr;
  io.tv = a.inversion_tv;
  io.seed = config.seed;
  const torch::Tensor inverted = invert_identities(model, MaskingTransform(masker), labels, prior,
                                                   faces.planes, faces.size, io)
                                     .contiguous();
  const auto predicted =
      identify(evaluator, inverted.data_ptr<float>(), identities, faces.planes, faces.size, kTopK);
  // Also how much each inversion looks like the person: SSIM to the mean of their training faces.
  std::vector<std::vector<double>> person_mean(identities,
                                               std::vector<double>(faces.image_floats()));
  std::vector<int> person_count(identities, 0);
  for (size_t i = 0; i < n; ++i) {
    if (faces.labels[i] >= identities) continue;
    ++person_count[faces.labels[i]];
    for (size_t e = 0; e < faces.image_floats(); ++e)
      person_mean[faces.labels[i]][e] += faces.image(i)[e];
  }
  size_t top1 = 0, top5 = 0;
  double inversion_ssim = 0;
  for (int i = 0; i < identities; ++i) {
    std::vector<float> mean(faces.image_floats());
    for (size_t e = 0; e < mean.size(); ++e)
      mean[e] = float(person_mean[i][e] / std::max(1, person_count[i]));
    inversion_ssim += compare(inverted.data_ptr<float>() + i * faces.image_floats(), mean.data(),
                              faces.planes, faces.size)
                          .ssim /
                      identities;
    top1 += predicted[i][0] == labels[i];
    top5 += std::find(predicted[i].begin(), predicted[i].end(), labels[i]) != predicted[i].end();
  }
  const nlohmann::json inversion = {{"identities", identities},
                                    {"steps", a.inversion_steps},
                                    {"top1", double(top1) / identities},
                                    {"top5", double(top5) / identities},
                                    {"ssim_to_person_mean", inversion_ssim}};
  spdlog::info("model inversion: {}", inversion.dump());

  // The picture: originals, protected samples in pixels, linear, multi-observation, learned,
  // and (last row) model inversions of the first identities.
  std::vector<std::vector<Image>> rows(6);
  const ColorMode color = preprocess.color;
  const int size = faces.size;
  for (int i = 0; i < previews && size_t(i) < n; ++i) {
    const int top = obs.top(i);
    rows[0].push_back(planes_to_image(faces.image(top), color, size));
    rows[1].push_back(stretched_image(
        std::vector<float>(obs.protected_pixels.begin() + i * obs.image_floats,
                           obs.protected_pixels.begin() + (i + 1) * obs.image_floats),
        color, size));
    rows[2].push_back(planes_to_image(obs.linear_image(i), color, size));
    const int c = best_candidate[top];
    rows[3].push_back(
        planes_to_image(candidates.data() + size_t(c) * obs.image_floats, color, size));
    rows[4].push_back(planes_to_image(learned.images.data() + i * obs.image_floats, color, size));
  }
  for (int i = 0; i < std::min(identities, kGridColumns); ++i)
    rows[5].push_back(
        planes_to_image(inverted.data_ptr<float>() + i * obs.image_floats, color, size));
  fs::create_directories(request.out);
  write_png(request.out / "grid.png", tile_grid(rows));

  // Chance levels: an attacker who outputs the public mean face, or guesses a person.
  double prior_ssim = 0;
  for (size_t i = 0; i < n; ++i)
    prior_ssim += compare(prior.data(), faces.image(i), faces.planes, faces.size).ssim / double(n);
  const nlohmann::json chance = {{"ssim_of_mean_public_face", prior_ssim},
                                 {"identity_hit", 1.0 / classes}};

  const nlohmann::json result = {
      {"run", request.run.string()},
      {"chance", chance},
      {"method", config.mask.method},
      {"evaluator", request.evaluator.string()},
      {"targets", n},
      {"linear", linear_result},
      {"multi_observation", multi},
      {"reconstruction", reconstruction},
      {"model_inversion", inversion},
      {"batchnorm", attacked.batchnorm.is_null() ? nlohmann::json("model") : attacked.batchnorm},
      {"grid_rows",
       {"original (largest-weight constituent)", "protected sample in pixels (stretched)",
        "linear attack", "multi-observation", "learned reconstruction",
        "model inversion (identities 1-8)"}},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  write_file_atomic(request.out / "attack.json", result.dump(1) + "\n");
  return result;
}

}  // namespace hymask::attack
