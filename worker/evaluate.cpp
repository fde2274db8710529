#include "worker/evaluate.h"

#include <spdlog/spdlog.h>
#include <torch/nn/functional/normalization.h>
#include <torch/utils.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/data_source.h"
#include "core/error.h"
#include "core/loader.h"
#include "core/splits.h"
#include "core/synth.h"
#include "core/verification.h"

namespace hymask {
namespace fs = std::filesystem;

namespace {

// L2-normalised embeddings (N x E) of the given samples, masked with k = 1. A sample whose file
// is bad gets a zero row (never matches) and is counted in `missing`.
torch::Tensor embed(const Config& config, FaceModel& model, const Masker& masker,
                    std::shared_ptr<const FaceDataset> dataset, const std::vector<size_t>& indices,
                    size_t& missing) {
  torch::NoGradGuard no_grad;
  model.train(false);
  MixAction action = masker.default_action();
  action.k = 1;
  torch::Tensor out = torch::zeros({int64_t(indices.size()), config.model.embedding});
  std::map<size_t, int64_t> row_of;
  for (size_t i = 0; i < indices.size(); ++i) row_of.emplace(indices[i], int64_t(i));
  BatchLoader loader(dataset, indices, config.eval.batch_size, preprocess_options(config),
                     BadFilePolicy::kSkip, config.data.threads, config.data.prefetch,
                     [&](Batch& b) { masker.apply(b.pixels.data(), b.keys, 0, action, b.masked); });
  missing = 0;
  while (std::optional<Batch> batch = loader.next()) {
    missing += batch->skipped.size();
    if (batch->size() == 0) continue;
    MaskedBatch& m = batch->masked;
    const torch::Tensor x = torch::from_blob(m.data.data(), {m.batch, m.channels, m.size, m.size});
    const torch::Tensor e = torch::nn::functional::normalize(
        model.backbone->forward(x), torch::nn::functional::NormalizeFuncOptions().dim(1));
    for (int i = 0; i < m.batch; ++i) out[row_of.at(batch->indices[i])] = e[i];
  }
  model.train(true);
  return out;
}

// Top-1 identification of probes against per-identity mean embeddings of the gallery.
double identify(const torch::Tensor& gallery, const std::vector<int>& gallery_labels,
                const torch::Tensor& probes, const std::vector<int>& probe_labels, int classes) {
  torch::Tensor centres = torch::zeros({classes, gallery.size(1)});
  for (size_t i = 0; i < gallery_labels.size(); ++i) centres[gallery_labels[i]] += gallery[i];
  centres = torch::nn::functional::normalize(centres,
                                             torch::nn::functional::NormalizeFuncOptions().dim(1));
  const torch::Tensor predicted = torch::mm(probes, centres.t()).argmax(1);
  size_t correct = 0;
  for (size_t i = 0; i < probe_labels.size(); ++i)
    correct += predicted[int64_t(i)].item<int64_t>() == probe_labels[i];
  return double(correct) / std::max<size_t>(1, probe_labels.size());
}

nlohmann::json identification(const Config& config, FaceModel& model, const Masker& masker,
                              std::shared_ptr<const FaceDataset> dataset,
                              const std::vector<size_t>& gallery, const std::vector<size_t>& probes,
                              const std::string& protocol) {
  size_t missing_gallery = 0, missing_probes = 0;
  const torch::Tensor g = embed(config, model, masker, dataset, gallery, missing_gallery);
  const torch::Tensor p = embed(config, model, masker, dataset, probes, missing_probes);
  std::vector<int> gl, pl;
  for (size_t i : gallery) gl.push_back(dataset->label(i));
  for (size_t i : probes) pl.push_back(dataset->label(i));
  const double top1 = identify(g, gl, p, pl, dataset->num_classes());
  return {{"protocol", protocol},
          {"top1", top1},
          {"gallery", gallery.size()},
          {"probes", probes.size()},
          {"unreadable", missing_gallery + missing_probes}};
}

}  // namespace

std::string evaluation_protocol(const Config& config) {
  if (config.data.root.empty()) return "synthetic-id";
  if (config.data.split.rfind("orl", 0) == 0) return "orl-id";
  if (config.data.split.rfind("lfw5", 0) == 0) return "lfw-disjoint-5";
  return "";
}

nlohmann::json evaluate(const Config& config, FaceModel& model, const Masker& masker) {
  const std::string protocol = evaluation_protocol(config);
  if (protocol.empty())
    throw ConfigError("no evaluation protocol for data.split '" + config.data.split +
                      "' of an image folder: train with data.split orl-train or lfw5-train, or "
                      "on synthetic faces");
  if (protocol == "synthetic-id") {
    // The same identities, with images the training never saw (indices past the training ones).
    SynthOptions o = synth_options(config);
    const int trained = o.images_per_identity;
    o.images_per_identity += config.eval.synthetic_probes;
    auto faces = std::make_shared<SyntheticFaces>(o);
    std::vector<size_t> gallery, probes;
    for (size_t i = 0; i < faces->size(); ++i)
      (int(i % o.images_per_identity) < trained ? gallery : probes).push_back(i);
    return identification(config, model, masker, faces, gallery, probes, protocol);
  }
  // Only the images the protocol needs are opened.
  const BadFilePolicy policy = parse_bad_file_policy(config.data.on_bad_file);
  const FolderListing listing = FolderListing::read(config.data.root);
  auto open = [&](const std::vector<size_t>& selected) {
    return ImageFolderDataset::open(listing, selected, policy, std::max(8, config.data.crop),
                                    config.data.threads);
  };
  if (protocol == "orl-id") {
    const Split split = orl_id_split(listing);
    std::vector<size_t> both = split.train;
    both.insert(both.end(), split.test.begin(), split.test.end());
    auto orl = open(both);
    const std::set<size_t> train(split.train.begin(), split.train.end());
    std::vector<size_t> gallery, probes;
    for (size_t i = 0; i < orl->size(); ++i)
      (train.count(orl->key(i)) ? gallery : probes).push_back(i);
    return identification(config, model, masker, orl, gallery, probes, protocol);
  }
  const LfwDisjointSplit split =
      lfw_disjoint_split(listing, read_lfw_pairs(lfw_pairs_path(config)));
  std::map<std::string, size_t> listed;
  for (size_t i = 0; i < listing.entries.size(); ++i)
    listed.emplace(listing.entries[i].path.string(), i);
  std::vector<size_t> needed;
  for (const LfwPair& pair : split.test)
    for (const fs::path& path : {lfw_image_path(config.data.root, pair.name1, pair.image1),
                                 lfw_image_path(config.data.root, pair.name2, pair.image2)}) {
      const auto it = listed.find(path.string());
      if (it != listed.end()) needed.push_back(it->second);
    }
  std::sort(needed.begin(), needed.end());
  needed.erase(std::unique(needed.begin(), needed.end()), needed.end());
  auto folder = open(needed);
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < folder->size(); ++i) index_of.emplace(folder->source(i), i);
  std::vector<size_t> images;
  std::map<size_t, int64_t> row_of;
  std::vector<std::array<int64_t, 2>> pair_rows;
  std::vector<bool> same;
  std::vector<int> folds;
  size_t absent = 0;
  for (const LfwPair& pair : split.test) {
    std::array<int64_t, 2> rows{};
    bool found = true;
    const std::array<fs::path, 2> paths = {
        lfw_image_path(config.data.root, pair.name1, pair.image1),
        lfw_image_path(config.data.root, pair.name2, pair.image2)};
    for (int side = 0; side < 2; ++side) {
      const auto it = index_of.find(paths[side].string());
      if (it == index_of.end()) {
        found = false;
        break;
      }
      auto [row, inserted] = row_of.emplace(it->second, int64_t(images.size()));
      if (inserted) images.push_back(it->second);
      rows[side] = row->second;
    }
    if (!found) {
      ++absent;
      continue;
    }
    pair_rows.push_back(rows);
    same.push_back(pair.same);
    folds.push_back(pair.fold);
  }
  if (absent > 0) spdlog::warn("{} test pairs name images that are missing or bad", absent);
  spdlog::info("evaluating {} pairs over {} images", pair_rows.size(), images.size());
  size_t missing = 0;
  const torch::Tensor e = embed(config, model, masker, folder, images, missing);
  std::vector<double> scores;
  for (const auto& rows : pair_rows)
    scores.push_back(torch::dot(e[rows[0]], e[rows[1]]).item<double>());
  const VerificationResult r = verify_pairs(scores, same, folds, 1e-2);
  return {{"protocol", protocol},
          {"pairs", pair_rows.size()},
          {"accuracy_mean", r.accuracy_mean},
          {"accuracy_std", r.accuracy_std},
          {"fold_accuracy", r.fold_accuracy},
          {"auc", r.auc},
          {"far", r.far},
          {"tar_at_far", r.tar_at_far},
          {"unreadable", missing + absent}};
}

std::string format_evaluation(const nlohmann::json& r) {
  const std::string protocol = r.at("protocol");
  if (protocol == "lfw-disjoint-5")
    return fmt::format(
        "{:<16} {:>6} pairs | accuracy {:.2f}% +- {:.2f} (10-fold) | AUC {:.4f} | "
        "TAR@FAR=1e-2 {:.2f}%",
        protocol, r.at("pairs").get<size_t>(), 100 * r.at("accuracy_mean").get<double>(),
        100 * r.at("accuracy_std").get<double>(), r.at("auc").get<double>(),
        100 * r.at("tar_at_far").get<double>());
  return fmt::format("{:<16} {:>6} probes | top-1 identification {:.2f}%", protocol,
                     r.at("probes").get<size_t>(), 100 * r.at("top1").get<double>());
}

}  // namespace hymask
