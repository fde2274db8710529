#include "attack/audit.h"

#include <spdlog/spdlog.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>

#include "attack/masking_transform.h"
#include "attack/model_inversion.h"
#include "attack/observations.h"
#include "attack/scoring.h"
#include "core/error.h"
#include "core/files.h"
#include "core/linear_attack.h"
#include "worker/batchnorm_calibration.h"
#include "worker/evaluate.h"
#include "worker/face_model.h"

namespace hymask::attack {
namespace fs = std::filesystem;

namespace {

constexpr int kPriorFaces = 1000;  // public faces whose mean is the linear attack's prior

// Who each image shows, by the evaluator or by the nearest other training face.
class Identifier {
 public:
  Identifier(const Config& config, const FaceSet& gallery, int classes) : gallery_(gallery) {
    if (!config.eval.audit_evaluator.empty())
      evaluator_ = load_evaluator(config.eval.audit_evaluator, config, classes);
  }

  std::string name() const {
    return evaluator_ ? "evaluator" : "nearest other training face (pixels)";
  }

  // `exclude[i]`: the gallery face image i may not match (the nearest-face identifier only).
  std::vector<int> persons(const float* images, size_t count, const std::vector<int>& exclude) {
    if (!evaluator_) return nearest_person(gallery_, images, count, exclude);
    std::vector<int> out;
    for (const std::vector<int>& top :
         identify(*evaluator_, images, int64_t(count), gallery_.planes, gallery_.size, 1))
      out.push_back(top[0]);
    return out;
  }

 private:
  const FaceSet& gallery_;
  std::unique_ptr<FaceModel> evaluator_;
};

double share(const std::vector<int>& predicted, const std::vector<int>& truth) {
  size_t hits = 0;
  for (size_t i = 0; i < truth.size(); ++i) hits += predicted[i] == truth[i];
  return double(hits) / double(std::max<size_t>(1, truth.size()));
}

}  // namespace

nlohmann::json audit_run(const Config& config, FaceModel& model, const Masker& masker,
                         const fs::path& run) {
  const auto start = std::chrono::steady_clock::now();
  model.to(torch::kCPU);  // the attacks compute on the CPU; training is over
  const int threads = std::max(1, config.data.threads);
  const DataSource source = open_data(config);
  const int classes = source.dataset->num_classes();
  const FaceSet faces = load_targets(config, source, config.eval.audit_targets, threads);
  if (faces.count() < 2) throw Error("eval.audit: fewer than 2 readable training images to audit");
  spdlog::info("audit (eval.audit): {} training images, {} people", faces.count(), classes);

  // The prior (what the linear attack fills the dropped frequencies with): the public faces'
  // mean, or without them the audited faces' own, which flatters the attack a little.
  const bool public_prior = fs::exists(config.attack.aux_root);
  const std::vector<float> prior =
      mean_face(public_prior ? load_public_faces(config, kPriorFaces, threads) : faces);
  const LinearAttack linear(masker, prior);
  const Observations obs = observe(faces, masker, action_source(config, masker, run), linear, 1,
                                   config.train.batch_size, config.seed, 0, 0, threads);

  Identifier identifier(config, faces, classes);
  std::vector<int> truth, self;
  double ssim = 0;
  std::vector<float> originals;
  for (size_t i = 0; i < obs.count(); ++i) {
    truth.push_back(faces.labels[obs.top(i)]);
    self.push_back(obs.top(i));
    ssim += compare(obs.linear_image(i), faces.image(obs.top(i)), faces.planes, faces.size).ssim;
    originals.insert(originals.end(), faces.image(obs.top(i)),
                     faces.image(obs.top(i)) + faces.image_floats());
  }
  const size_t n = obs.count();
  double prior_ssim = 0;
  for (size_t i = 0; i < faces.count(); ++i)
    prior_ssim += compare(prior.data(), faces.image(i), faces.planes, faces.size).ssim;
  const std::vector<int> answers = identifier.persons(obs.linear.data(), n, self);
  const nlohmann::json linear_result = {
      {"samples", n},
      {"ssim", ssim / double(n)},
      {"identity_hit", share(answers, truth)},
      {"identity_hit_if_unrelated", hit_rate_if_unrelated(answers, truth)}};

  // A short model inversion of the first identities.
  // (People among the audited faces, so that the nearest-face identifier can name them.)
  std::vector<int> labels = faces.labels;
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  if (labels.size() > size_t(config.eval.audit_identities))
    labels.resize(size_t(config.eval.audit_identities));
  const int identities = int(labels.size());
  InversionOptions io;
  io.steps = config.eval.audit_inversion_steps;
  io.lr = config.attack.inversion_lr;
  io.tv = config.attack.inversion_tv;
  io.seed = config.seed;
  const torch::Tensor inverted = invert_identities(model, MaskingTransform(masker), labels, prior,
                                                   faces.planes, faces.size, io)
                                     .contiguous();
  const nlohmann::json inversion = {
      {"identities", identities},
      {"steps", io.steps},
      {"top1",
       share(identifier.persons(inverted.data_ptr<float>(), size_t(identities), {}), labels)}};

  const nlohmann::json audit = {
      {"identifier", identifier.name()},
      {"prior", public_prior ? "mean of public faces (" + config.attack.aux_root + ")"
                             : "mean of the audited faces (attack.aux_root is absent)"},
      {"linear", linear_result},
      {"model_inversion", inversion},
      {"reference",
       {{"identity_hit_of_clean_faces",
         share(identifier.persons(originals.data(), n, self), truth)},
        {"identity_hit_chance", 1.0 / classes},
        {"ssim_of_prior", prior_ssim / double(faces.count())}}},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  const nlohmann::json& reference = audit["reference"];
  spdlog::info(
      "audit: linear attack SSIM {:.3f} (prior alone {:.3f}), identified {:.1f}% (unrelated "
      "answers {:.1f}%) | model inversion "
      "identified {:.1f}% | clean faces {:.1f}%, chance {:.1f}% ({}) | {:.0f} s",
      audit["linear"]["ssim"].get<double>(), reference["ssim_of_prior"].get<double>(),
      100 * audit["linear"]["identity_hit"].get<double>(),
      100 * audit["linear"]["identity_hit_if_unrelated"].get<double>(),
      100 * audit["model_inversion"]["top1"].get<double>(),
      100 * reference["identity_hit_of_clean_faces"].get<double>(),
      100 * reference["identity_hit_chance"].get<double>(), audit["identifier"].get<std::string>(),
      audit["seconds"].get<double>());
  return audit;
}

void evaluate_and_audit(const Config& config, FaceModel& model, const nlohmann::json& policy,
                        const fs::path& run) {
  const Masker masker = make_eval_masker(config, run);
  const double noise = masker.options().deployed_noise_epsilon;
  if (noise > 0)
    spdlog::info("evaluating with the noise the policy emitted most: epsilon {}", noise);
  const nlohmann::json batchnorm = recalibrate_batchnorm(config, model, masker);
  nlohmann::json result = evaluate(config, model, masker);
  if (!batchnorm.is_null()) result["batchnorm"] = batchnorm;
  if (noise > 0) result["noise_epsilon"] = noise;
  if (!policy.is_null()) result["policy"] = policy;
  write_file_atomic(run / "eval.json", result.dump(2) + "\n");
  spdlog::info("evaluation: {}", format_evaluation(result));
  if (!config.eval.audit) return;
  result["audit"] = audit_run(config, model, masker, run);
  write_file_atomic(run / "eval.json", result.dump(2) + "\n");
}

}  // namespace hymask::attack
