#include "worker/batchnorm_calibration.h"

#include <spdlog/spdlog.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/utils.h>

#include <numeric>

#include "core/data_source.h"
#include "core/error.h"
#include "core/loader.h"
#include "core/splits.h"

namespace hymask {
namespace {

// Calls visit(bn) on every BatchNorm under `root`, in a fixed order.
template <typename Visit>
void for_each_batchnorm(torch::nn::Module& root, Visit visit) {
  for (const auto& module : root.modules(/*include_self=*/false)) {
    if (auto* bn = module->as<torch::nn::BatchNorm2dImpl>()) visit(*bn);
    if (auto* bn = module->as<torch::nn::BatchNorm1dImpl>()) visit(*bn);
  }
}

}  // namespace

nlohmann::json recalibrate_batchnorm(const Config& config, FaceModel& model, const Masker& masker) {
  const std::string& source = config.eval.batchnorm;  // validated with the config
  if (source == "model") return nullptr;
  std::shared_ptr<const FaceDataset> dataset;
  if (source == "public") {
    // Not LFW's people with fewer than 5 images as a whole: most of their images are the
    // evaluation's own.
    const FolderListing listing = FolderListing::read(config.data.root);
    const LfwDisjointSplit split =
        lfw_disjoint_split(listing, read_lfw_pairs(lfw_pairs_path(config)));
    dataset = ImageFolderDataset::open(listing, split.unevaluated, config.data.on_bad_file,
                                       std::max(8, config.data.crop), config.data.threads);
  } else {
    dataset = open_data(config).dataset;
  }
  std::vector<size_t> order(dataset->size());
  std::iota(order.begin(), order.end(), size_t(0));
  order = epoch_order(std::move(order), config.seed, 0);
  order.resize(std::min(order.size(), size_t(config.eval.batchnorm_images)));

  MixAction action = masker.default_action();
  if (source != "train-mixed") action.k = 1;
  BatchLoader loader(
      dataset, order, config.train.batch_size, preprocess_options(config), BadFilePolicy::kSkip,
      config.data.threads, config.data.prefetch,
      [&](Batch& b) { masker.apply(b.pixels.data(), b.keys, b.number, action, b.masked); });

  // Training mode with a cumulative average (momentum none) from zeroed statistics, for the
  // BatchNorms only; the momentum training goes on with is put back afterwards.
  model.train(false);
  std::vector<c10::optional<double>> momenta;
  for_each_batchnorm(*model.backbone, [&](auto& bn) {
    momenta.push_back(bn.options.momentum());
    bn.options.momentum(c10::nullopt);
    bn.reset_running_stats();
    bn.train(true);
  });
  size_t used = 0, batches = 0;
  {
    torch::NoGradGuard no_grad;
    while (std::optional<Batch> batch = loader.next()) {
      if (batch->size() < 2) continue;  // a batch of one has no variance
      MaskedBatch& m = batch->masked;
      model.backbone->forward(torch::from_blob(m.data.data(), {m.batch, m.channels, m.size, m.size})
                                  .to(model.device()));
      used += batch->size();
      ++batches;
    }
  }
  size_t next = 0;
  for_each_batchnorm(*model.backbone, [&](auto& bn) {
    bn.options.momentum(momenta[next++]);
    bn.train(false);
  });
  if (batches == 0) throw DataError("eval.batchnorm=" + source + " read no batch of 2 images");
  spdlog::info("BatchNorm statistics re-estimated on {} {} images ({}, {} batches)", used, source,
               action_name(action), batches);
  return {
      {"source", source}, {"images", used}, {"batches", batches}, {"action", action_name(action)}};
}

}  // namespace hymask
