// hymask embed: the trained model in use. The client masks (k = 1, the run's transform), the
// server embeds: writes the L2-normalised embeddings of an image folder's or a RecordIO set's
// protected images,
//   OUT            float32 N x E    one row per readable image, in the set's order
//   OUT's .json                     the checkpoint, the masking, each row's source and identity,
//                                   and the images skipped as unreadable
// streaming, so that a set of millions of images needs no more memory than a batch.
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/config.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/files.h"
#include "core/masking.h"
#include "core/npy.h"
#include "core/recordio.h"
#include "worker/checkpoint.h"
#include "worker/evaluate.h"

namespace hymask::cli {
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string checkpoint;
  std::string data;
  std::string rec;
  std::string out;
  bool flip = false;
  std::vector<std::string> overrides;
};

void run_embed(const Args& args) {
  if (args.data.empty() == args.rec.empty())
    throw ConfigError(
        "give the images to embed: --data DIR (an image folder) or --rec PREFIX "
        "(PREFIX.rec/.idx), one of them");
  if (fs::path(args.out).extension() != ".npy")
    throw ConfigError("--out " + args.out + ": the embeddings are a .npy file (e.g. emb.npy)");
  Config config = checkpoint_config(args.checkpoint);
  apply_overrides(config, args.overrides);
  const Masker masker =
      make_eval_masker(config, std::filesystem::path(args.checkpoint).parent_path());
  FaceModel model(config, masker, checkpoint_classes(args.checkpoint));
  load_checkpoint_model(args.checkpoint, model);

  const BadFilePolicy policy = config.data.on_bad_file;
  std::shared_ptr<const FaceDataset> dataset;
  std::vector<std::string> skipped;
  if (!args.data.empty()) {
    auto folder = ImageFolderDataset::open(args.data, policy, std::max(8, config.data.crop),
                                           config.data.threads);
    skipped = folder->skipped();
    dataset = folder;
  } else {
    auto set = RecordIoDataset::open(args.rec, policy);
    skipped = set->skipped();
    dataset = set;
  }
  for (const std::string& problem : skipped) spdlog::warn("skipped {}", problem);
  std::vector<size_t> all(dataset->size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;

  Embedder embedder(config, model, masker, args.flip);
  const std::unique_ptr<BatchLoader> loader = embedder.loader(dataset, all);
  NpyWriter out(args.out, "<f4", {int64_t(all.size()), config.model.embedding});
  nlohmann::json samples = nlohmann::json::array();
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  while (std::optional<Batch> batch = loader->next()) {
    for (const std::string& problem : batch->skipped) {
      spdlog::warn("skipped {}", problem);
      skipped.push_back(problem);
    }
    if (batch->size() == 0) continue;
    const torch::Tensor e = embedder.embed(*batch).contiguous();
    out.write(e.data_ptr<float>(), size_t(e.numel()) * sizeof(float));
    for (size_t i = 0; i < batch->size(); ++i)
      samples.push_back({{"source", dataset->source(batch->indices[i])},
                         {"identity", dataset->identity(batch->labels[i])}});
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report > std::chrono::seconds(10)) {
      last_report = now;
      const double seconds = std::chrono::duration<double>(now - start).count();
      spdlog::info("embedded {}/{} images ({:.0f} images/s)", samples.size(), all.size(),
                   double(samples.size()) / seconds);
    }
  }
  if (samples.empty()) throw DataError("no image could be read: nothing to embed");
  out.commit(int64_t(samples.size()));
  const nlohmann::json manifest = {{"checkpoint", fs::absolute(args.checkpoint).string()},
                                   {"embedding", config.model.embedding},
                                   {"count", samples.size()},
                                   {"flip", args.flip},
                                   {"masking",
                                    {{"method", method_name(masker.options().method)},
                                     {"drop_level", masker.options().drop_level},
                                     {"image_size", config.data.image_size},
                                     {"color", config.data.color}}},
                                   {"samples", samples},
                                   {"skipped", skipped}};
  const fs::path manifest_path = fs::path(args.out).replace_extension(".json");
  write_file_atomic(manifest_path, manifest.dump(1) + "\n");
  spdlog::info(
      "wrote {} embeddings of {} values to {} and {}{}", samples.size(), config.model.embedding,
      args.out, manifest_path.string(),
      skipped.empty() ? "" : fmt::format(" ({} unreadable images skipped)", skipped.size()));
}

}  // namespace

void add_embed_command(CLI::App& app) {
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "embed",
      "Embed the protected (k = 1 masked) images of a folder or a RecordIO set with a trained "
      "checkpoint: OUT.npy (N x E, L2-normalised) and OUT.json (each row's source)");
  cmd->add_option("--checkpoint", args->checkpoint, "checkpoint.pt of a run")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", args->data, "Image folder, one subfolder per identity");
  cmd->add_option("--rec", args->rec, "RecordIO set PREFIX (PREFIX.rec and PREFIX.idx)");
  cmd->add_option("--out", args->out, "Embeddings file, e.g. emb.npy")->required();
  cmd->add_flag("--flip", args->flip, "Add each image's mirrored embedding (the flip test)");
  cmd->add_option("overrides", args->overrides,
                  "key=value config overrides on the checkpoint's config (data.threads, "
                  "eval.batch_size, ...)");
  cmd->callback([args] { run_embed(*args); });
}

}  // namespace hymask::cli
