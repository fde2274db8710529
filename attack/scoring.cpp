#include "attack/scoring.h"

#include <torch/types.h>

#include <algorithm>
#include <map>

#include "core/error.h"
#include "core/image_metrics.h"
#include "worker/batchnorm_calibration.h"
#include "worker/checkpoint.h"

namespace hymask::attack {

Similarity compare(const float* a, const float* b, int planes, int size) {
  const size_t n = size_t(size) * size;
  std::vector<float> x(n), y(n);
  Similarity s;
  for (int p = 0; p < planes; ++p) {
    for (size_t i = 0; i < n; ++i) {
      x[i] = std::clamp(a[p * n + i] + 128.0f, 0.0f, 255.0f);
      y[i] = std::clamp(b[p * n + i] + 128.0f, 0.0f, 255.0f);
    }
    s.ssim += hymask::ssim(x.data(), y.data(), size) / planes;
    s.psnr += hymask::psnr(x.data(), y.data(), size) / planes;
  }
  return s;
}

Config finished_run_config(const std::filesystem::path& run,
                           const std::vector<std::string>& overrides) {
  if (!std::filesystem::exists(run / "config.yaml") ||
      !std::filesystem::exists(checkpoint_path(run)))
    throw Error(run.string() +
                " is not a finished hymask run (config.yaml and checkpoint.pt): train one with "
                "`hymask train --out DIR`");
  return load_config((run / "config.yaml").string(), overrides);
}

std::unique_ptr<FaceModel> load_evaluator(const std::filesystem::path& dir, const Config& config,
                                          int classes) {
  const Config own = finished_run_config(dir);
  if (own.mask.method != "none" || own.data.root != config.data.root ||
      own.data.split != config.data.split || own.data.image_size != config.data.image_size ||
      own.data.color != config.data.color)
    throw ConfigError("the evaluator " + dir.string() +
                      " must be a mask.method=none run on the same data.root, data.split, "
                      "image_size and color as the attacked run");
  auto evaluator = std::make_unique<FaceModel>(own, make_masker(own), classes);
  load_checkpoint_model(checkpoint_path(dir), *evaluator);
  return evaluator;
}

AttackedModel load_attacked_model(const std::filesystem::path& run, const Config& config,
                                  const Masker& masker, int classes) {
  AttackedModel attacked{std::make_unique<FaceModel>(config, masker, classes), nullptr};
  load_checkpoint_model(checkpoint_path(run), *attacked.model);
  attacked.batchnorm =
      recalibrate_batchnorm(config, *attacked.model, make_eval_masker(config, run));
  return attacked;
}

std::vector<std::vector<int>> identify(FaceModel& model, const float* images, int64_t count,
                                       int planes, int size, int top_k) {
  torch::NoGradGuard no_grad;
  model.train(false);
  std::vector<std::vector<int>> out;
  const int64_t per = int64_t(planes) * size * size;
  for (int64_t first = 0; first < count; first += 64) {
    const int64_t b = std::min<int64_t>(64, count - first);
    const torch::Tensor x =
        torch::from_blob(const_cast<float*>(images) + first * per, {b, planes, size, size});
    const torch::Tensor cosine = model.head->cosine(model.backbone->forward(x));
    const torch::Tensor top = std::get<1>(cosine.topk(std::min<int64_t>(top_k, cosine.size(1)), 1));
    for (int64_t i = 0; i < b; ++i) {
      std::vector<int> row;
      for (int64_t j = 0; j < top.size(1); ++j) row.push_back(int(top[i][j].item<int64_t>()));
      out.push_back(row);
    }
  }
  return out;
}

std::vector<int> nearest_person(const FaceSet& gallery, const float* images, size_t count,
                                const std::vector<int>& exclude) {
  torch::NoGradGuard no_grad;
  const auto unit_rows = [&](const float* x, size_t rows) {
    const torch::Tensor t =
        torch::from_blob(const_cast<float*>(x), {int64_t(rows), int64_t(gallery.image_floats())})
            .to(torch::kFloat64);
    return t / t.norm(2, 1, true).clamp_min(1e-12);
  };
  torch::Tensor cosine =
      unit_rows(images, count).mm(unit_rows(gallery.pixels.data(), gallery.count()).t());
  for (size_t i = 0; i < std::min(count, exclude.size()); ++i)
    if (exclude[i] >= 0) cosine[int64_t(i)][exclude[i]] = -2.0;
  const torch::Tensor best = cosine.argmax(1);
  std::vector<int> person(count);
  for (size_t i = 0; i < count; ++i)
    person[i] = gallery.labels[size_t(best[int64_t(i)].item<int64_t>())];
  return person;
}

namespace {

// Each person's share of a list of people (answers or targets).
std::map<int, double> shares(const std::vector<int>& people) {
  std::map<int, double> share;
  for (int person : people) share[person] += 1.0 / double(people.size());
  return share;
}

}  // namespace

double hit_rate_if_unrelated(const std::vector<int>& answers, const std::vector<int>& truth) {
  const std::map<int, double> answered = shares(answers), shown = shares(truth);
  double rate = 0;
  for (const auto& [person, share] : answered)
    if (const auto it = shown.find(person); it != shown.end()) rate += share * it->second;
  return rate;
}

PersonRates person_mean_hit_rates(const std::vector<int>& answers, const std::vector<int>& truth) {
  std::map<int, std::pair<int, int>> per_person;  // hits, targets
  for (size_t i = 0; i < truth.size(); ++i) {
    auto& [hits, targets] = per_person[truth[i]];
    hits += answers[i] == truth[i];
    ++targets;
  }
  const std::map<int, double> answered = shares(answers);
  PersonRates rates;
  for (const auto& [person, counts] : per_person) {
    rates.hit += double(counts.first) / counts.second;
    if (const auto it = answered.find(person); it != answered.end()) rates.unrelated += it->second;
  }
  if (!per_person.empty()) {
    rates.hit /= double(per_person.size());
    rates.unrelated /= double(per_person.size());
  }
  return rates;
}

}  // namespace hymask::attack
