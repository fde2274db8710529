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
#include "core/verification_bin.h"

namespace hymask {
namespace fs = std::filesystem;

Embedder::Embedder(const Config& config, FaceModel& model, const Masker& masker, bool flip)
    : config_(config),
      model_(model),
      masker_(masker),
      flip_(flip),
      image_size_(preprocess_options(config).size) {
  action_ = masker.default_action();
  action_.k = 1;
  model_.train(false);
}

Embedder::~Embedder() {
  model_.train(true);
}

std::unique_ptr<BatchLoader> Embedder::loader(std::shared_ptr<const FaceDataset> dataset,
                                              std::vector<size_t> indices) const {
  return std::make_unique<BatchLoader>(
      std::move(dataset), std::move(indices), config_.eval.batch_size, preprocess_options(config_),
      BadFilePolicy::kSkip, config_.data.threads, config_.data.prefetch,
      [this](Batch& b) { masker_.apply(b.pixels.data(), b.keys, 0, action_, b.masked); });
}

torch::Tensor Embedder::embed(Batch& batch) {
  torch::NoGradGuard no_grad;
  const auto forward = [&](MaskedBatch& m) {
    return model_.backbone->forward(
        torch::from_blob(m.data.data(), {m.batch, m.channels, m.size, m.size}).to(model_.device()));
  };
  torch::Tensor e = forward(batch.masked);
  if (flip_) {
    // Mirror the pixels (planes x S x S per image), not the masked grid, whose side differs.
    const size_t side = size_t(image_size_);
    std::vector<float> pixels(batch.pixels.size());
    for (size_t row = 0; row < pixels.size(); row += side)
      std::reverse_copy(batch.pixels.begin() + std::ptrdiff_t(row),
                        batch.pixels.begin() + std::ptrdiff_t(row + side),
                        pixels.begin() + std::ptrdiff_t(row));
    MaskedBatch mirrored;
    masker_.apply(pixels.data(), batch.keys, 0, action_, mirrored);
    e = e + forward(mirrored);
  }
  return torch::nn::functional::normalize(e, torch::nn::functional::NormalizeFuncOptions().dim(1))
      .cpu();
}

namespace {

// L2-normalised embeddings (N x E) of the given samples. A sample whose file is bad gets a zero
// row (never matches) and is counted in `missing`.
torch::Tensor embed(const Config& config, FaceModel& model, const Masker& masker,
                    std::shared_ptr<const FaceDataset> dataset, const std::vector<size_t>& indices,
                    size_t& missing, bool flip = false) {
  Embedder embedder(config, model, masker, flip);
  torch::Tensor out = torch::zeros({int64_t(indices.size()), config.model.embedding});
  std::map<size_t, int64_t> row_of;
  for (size_t i = 0; i < indices.size(); ++i) row_of.emplace(indices[i], int64_t(i));
  const std::unique_ptr<BatchLoader> loader = embedder.loader(dataset, indices);
  missing = 0;
  while (std::optional<Batch> batch = loader->next()) {
    missing += batch->skipped.size();
    if (batch->size() == 0) continue;
    const torch::Tensor e = embedder.embed(*batch);
    for (size_t i = 0; i < batch->size(); ++i) out[row_of.at(batch->indices[i])] = e[int64_t(i)];
  }
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

// Pairs of images to verify: indices into `images`, ground truth and folds.
struct PairSet {
  std::shared_ptr<const FaceDataset> images;
  std::vector<std::array<size_t, 2>> pairs;
  std::vector<bool> same;
  std::vector<int> folds;
  size_t absent = 0;  // pairs dropped: an image missing from the folder, or bad
};

// The LFW-style pairs (pairs.txt entries) over an image folder; only their images are opened.
PairSet folder_pairs(const Config& config, const FolderListing& listing,
                     const std::vector<LfwPair>& lfw_pairs) {
  const auto path_of = [&](const LfwPair& pair, int side) {
    return side == 0 ? lfw_image_path(config.data.root, pair.name1, pair.image1).string()
                     : lfw_image_path(config.data.root, pair.name2, pair.image2).string();
  };
  std::map<std::string, size_t> listed;
  for (size_t i = 0; i < listing.entries.size(); ++i)
    listed.emplace(listing.entries[i].path.string(), i);
  std::vector<size_t> needed;
  for (const LfwPair& pair : lfw_pairs)
    for (int side = 0; side < 2; ++side) {
      const auto it = listed.find(path_of(pair, side));
      if (it != listed.end()) needed.push_back(it->second);
    }
  std::sort(needed.begin(), needed.end());
  needed.erase(std::unique(needed.begin(), needed.end()), needed.end());
  if (needed.empty())
    throw DataError("none of the images the pairs name is under " + config.data.root +
                    " (data.root must be the LFW folder the pairs refer to)");
  PairSet set;
  set.images = ImageFolderDataset::open(listing, needed, config.data.on_bad_file,
                                        std::max(8, config.data.crop), config.data.threads);
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < set.images->size(); ++i) index_of.emplace(set.images->source(i), i);
  for (const LfwPair& pair : lfw_pairs) {
    const auto first = index_of.find(path_of(pair, 0)), second = index_of.find(path_of(pair, 1));
    if (first == index_of.end() || second == index_of.end()) {
      ++set.absent;
      continue;
    }
    set.pairs.push_back({first->second, second->second});
    set.same.push_back(pair.same);
    set.folds.push_back(pair.fold);
  }
  return set;
}

// 10-fold verification accuracy (threshold chosen on the other nine folds), ROC AUC and TAR at
// FAR = 1e-2, 1e-3 and 1e-4 of the cosine similarity of each pair's embeddings.
nlohmann::json verify(const Config& config, FaceModel& model, const Masker& masker,
                      const PairSet& set, const std::string& protocol, bool flip = false) {
  if (set.absent > 0) spdlog::warn("{} pairs name images that are missing or bad", set.absent);
  std::vector<size_t> images;
  for (const auto& pair : set.pairs) images.insert(images.end(), pair.begin(), pair.end());
  std::sort(images.begin(), images.end());
  images.erase(std::unique(images.begin(), images.end()), images.end());
  spdlog::info("evaluating {} pairs over {} images{}", set.pairs.size(), images.size(),
               flip ? " (with mirrored images)" : "");
  size_t missing = 0;
  const torch::Tensor e = embed(config, model, masker, set.images, images, missing, flip);
  const auto row = [&](size_t index) {
    return int64_t(std::lower_bound(images.begin(), images.end(), index) - images.begin());
  };
  std::vector<double> scores;
  for (const auto& pair : set.pairs)
    scores.push_back(torch::dot(e[row(pair[0])], e[row(pair[1])]).item<double>());
  const VerificationResult r = verify_pairs(scores, set.same, set.folds, 1e-2);
  return {{"protocol", protocol},
          {"pairs", set.pairs.size()},
          {"flip", flip},
          {"accuracy_mean", r.accuracy_mean},
          {"accuracy_std", r.accuracy_std},
          {"fold_accuracy", r.fold_accuracy},
          {"auc", r.auc},
          {"far", r.far},
          {"tar_at_far", r.tar_at_far},
          {"tar_at_far_1e-3", tar_at_far(scores, set.same, 1e-3)},
          {"tar_at_far_1e-4", tar_at_far(scores, set.same, 1e-4)},
          {"unreadable", missing + set.absent}};
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
  const BadFilePolicy policy = config.data.on_bad_file;
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
  return verify(config, model, masker, folder_pairs(config, listing, split.test), protocol);
}

nlohmann::json evaluate_pairs_file(const Config& config, FaceModel& model, const Masker& masker,
                                   const fs::path& pairs_file, bool flip) {
  const FolderListing listing = FolderListing::read(config.data.root);
  return verify(config, model, masker, folder_pairs(config, listing, read_lfw_pairs(pairs_file)),
                "pairs:" + pairs_file.filename().string(), flip);
}

nlohmann::json evaluate_bin(const Config& config, FaceModel& model, const Masker& masker,
                            const fs::path& bin_file, bool flip) {
  VerificationBin bin = read_verification_bin(bin_file);
  PairSet set;
  set.same = bin.same;
  set.folds = consecutive_folds(bin.pairs());
  for (size_t i = 0; i < bin.pairs(); ++i) set.pairs.push_back({2 * i, 2 * i + 1});
  set.images = std::make_shared<EncodedImageDataset>(std::move(bin.images), bin_file.string());
  return verify(config, model, masker, set, bin_file.stem().string(), flip);
}

std::string format_evaluation(const nlohmann::json& r) {
  const std::string protocol = r.at("protocol");
  if (r.contains("pairs"))
    return fmt::format(
        "{:<16} {:>6} pairs | accuracy {:.2f}% +- {:.2f} (10-fold) | AUC {:.4f} | "
        "TAR@FAR=1e-2 {:.2f}% 1e-3 {:.2f}% 1e-4 {:.2f}%",
        protocol, r.at("pairs").get<size_t>(), 100 * r.at("accuracy_mean").get<double>(),
        100 * r.at("accuracy_std").get<double>(), r.at("auc").get<double>(),
        100 * r.at("tar_at_far").get<double>(), 100 * r.at("tar_at_far_1e-3").get<double>(),
        100 * r.at("tar_at_far_1e-4").get<double>());
  return fmt::format("{:<16} {:>6} probes | top-1 identification {:.2f}%", protocol,
                     r.at("probes").get<size_t>(), 100 * r.at("top1").get<double>());
}

}  // namespace hymask
