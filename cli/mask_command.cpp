// hymask mask: writes protected samples for independent tools (and attacks):
//   protected.npy  float32 N x C x H x W    the masked (and mixed) samples
//   labels.npy     int64   N x k            identity label of each constituent, by weight (-1 pads
//                                           a sample mixed of fewer than k)
//   weights.npy    float32 N x k            mixing weights, descending, each row sums to 1 (0 pads)
//   manifest.json                           transform parameters, kept channels, identities, and
//                                           each sample's constituent source paths by weight and
//                                           its action (k, weight scheme, drop level)
// With --checkpoint RUN/checkpoint.pt, the run's config and, for adaptive, its trained policy
// choose each batch's action (not policy.finish's mildest action, which a fixed mixup export
// gives). Same config and seed, same bytes.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "core/config.h"
#include "core/data_source.h"
#include "core/error.h"
#include "core/files.h"
#include "core/loader.h"
#include "core/masking.h"
#include "core/npy.h"
#include "worker/trainer.h"

namespace hymask::cli {
namespace fs = std::filesystem;

namespace {

constexpr int kPreviewSamples = 8;

struct Args {
  std::string config_file;
  std::string data;
  std::string out;
  std::string preview;
  std::string checkpoint;
  int64_t limit = 0;
  std::vector<std::string> overrides;
};

void run_mask(const Args& args) {
  if (!args.checkpoint.empty() && !args.config_file.empty())
    throw ConfigError("give --checkpoint or --config, not both: a checkpoint carries its config");
  Config config;
  if (args.checkpoint.empty()) {
    config = load_config(args.config_file, args.overrides);
  } else {
    config = checkpoint_config(args.checkpoint);
    apply_overrides(config, args.overrides);
  }
  if (!args.data.empty()) config.data.root = args.data;
  const MaskOptions options = mask_options(config);
  std::optional<TrainedPolicy> trained;
  if (options.method == Method::kAdaptive) {
    if (args.checkpoint.empty())
      throw ConfigError(
          "mask.method adaptive needs a trained policy: pass the run's checkpoint "
          "(--checkpoint RUN/checkpoint.pt), or choose none, mask, instahide, mixup or dp");
    trained = load_checkpoint_policy(args.checkpoint, config);
  }
  const DataSource source = open_data(config);
  spdlog::info("data: {}", source.description);
  for (const std::string& problem : source.skipped) spdlog::warn("skipped {}", problem);

  const PreprocessOptions preprocess = preprocess_options(config);
  const Masker masker(options, preprocess.size, preprocess.color);
  // The order of the first training epoch: mixing partners are other people, as in training.
  std::vector<size_t> all(source.dataset->size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  std::vector<size_t> order = epoch_order(all, config.seed, 0);
  if (args.limit > 0 && size_t(args.limit) < order.size()) order.resize(size_t(args.limit));
  const int64_t total = int64_t(order.size());

  // Each batch's action: fixed, or drawn by the trained policy in the state training ended in.
  const int64_t batches = (total + config.train.batch_size - 1) / config.train.batch_size;
  std::vector<MixAction> actions(size_t(batches), masker.default_action());
  if (trained) {
    for (int64_t b = 0; b < batches; ++b)
      actions[size_t(b)] =
          trained->policy->to_mix_action(trained->policy->sample(trained->state, uint64_t(b)));
    spdlog::info("policy v{} of {}: each batch's action drawn from it", trained->policy->version(),
                 args.checkpoint);
  }
  int k = 1;
  for (const MixAction& a : actions) k = std::max(k, a.k);
  BatchLoader loader(source.dataset, order, config.train.batch_size, preprocess,
                     config.data.on_bad_file, config.data.threads, config.data.prefetch,
                     [&](Batch& batch) {
                       masker.apply(batch.pixels.data(), batch.keys, batch.number,
                                    actions[batch.number], batch.masked);
                     });

  const fs::path out = args.out;
  const int64_t c = masker.channels(), n = masker.out_size();
  NpyWriter samples(out / "protected.npy", "<f4", {total, c, n, n});
  NpyWriter labels(out / "labels.npy", "<i8", {total, k});
  NpyWriter weights(out / "weights.npy", "<f4", {total, k});
  nlohmann::json manifest_samples = nlohmann::json::array();
  std::vector<std::string> skipped;
  std::vector<std::vector<Image>> preview(2);

  int64_t written = 0;
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  while (std::optional<Batch> batch = loader.next()) {
    const MaskedBatch& m = batch->masked;
    skipped.insert(skipped.end(), batch->skipped.begin(), batch->skipped.end());
    if (batch->size() == 0) continue;
    samples.write(m.data.data(), m.data.size() * sizeof(float));
    // Rows padded to k: label -1 and weight 0 where a sample has fewer constituents.
    std::vector<int64_t> member_labels(size_t(m.batch) * k, -1);
    std::vector<float> member_weights(size_t(m.batch) * k, 0.0f);
    for (int i = 0; i < m.batch; ++i)
      for (int j = 0; j < m.k; ++j) {
        member_labels[size_t(i) * k + j] = batch->labels[m.members[size_t(i) * m.k + j]];
        member_weights[size_t(i) * k + j] = m.weights[size_t(i) * m.k + j];
      }
    labels.write(member_labels.data(), member_labels.size() * sizeof(int64_t));
    weights.write(member_weights.data(), member_weights.size() * sizeof(float));
    const MixAction& action = actions[batch->number];
    for (int i = 0; i < m.batch; ++i) {
      nlohmann::json constituents = nlohmann::json::array();
      for (int j = 0; j < m.k; ++j)
        constituents.push_back(
            source.dataset->source(batch->indices[m.members[size_t(i) * m.k + j]]));
      manifest_samples.push_back({{"constituents", constituents},
                                  {"action",
                                   {{"k", action.k},
                                    {"weights", weight_scheme_name(action.weights)},
                                    {"drop_level", action.drop_level},
                                    {"noise_epsilon", action.noise_epsilon},
                                    {"weight_cap", action.weight_cap}}}});
      if (int(preview[0].size()) < kPreviewSamples && !args.preview.empty()) {
        const size_t pixels = size_t(masker.planes()) * preprocess.size * preprocess.size;
        const float* own = batch->pixels.data() + pixels * i;
        preview[0].push_back(planes_to_image(own, preprocess.color, preprocess.size));
        std::vector<float> back(pixels);
        masker.to_pixels(m.data.data() + m.sample_size() * i, back.data());
        preview[1].push_back(stretched_image(back, preprocess.color, preprocess.size));
      }
    }
    written += m.batch;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report > std::chrono::seconds(2) || written == total) {
      const double seconds = std::chrono::duration<double>(now - start).count();
      spdlog::info("masked {}/{} samples ({:.0f} samples/s)", written, total, written / seconds);
      last_report = now;
    }
  }
  for (const std::string& problem : skipped) spdlog::warn("skipped {}", problem);

  nlohmann::json identities = nlohmann::json::array();
  for (int l = 0; l < source.dataset->num_classes(); ++l)
    identities.push_back(source.dataset->identity(l));
  nlohmann::json manifest = {
      {"format", "hymask-protected/1"},
      {"method", method_name(options.method)},
      {"data", source.description},
      {"seed", config.seed},
      {"count", written},
      {"k", k},
      {"shape", {written, c, n, n}},
      {"transform",
       {{"domain",
         masker.domain() == SampleDomain::kPixels ? "pixels" : option_name(options.domain)},
        {"image_size", preprocess.size},
        {"color", config.data.color},
        {"centred", true},
        {"upsample", options.upsample},
        {"drop_level", options.drop_level},
        {"kept_channels", masker.channel_ids()},
        {"channels_permuted", options.permute_channels},
        {"channel_subset", options.channel_subset},
        {"sign_flip", options.sign_flip},
        {"weights", weight_scheme_name(options.weights)},
        {"dirichlet_alpha", options.dirichlet_alpha},
        {"weight_cap", options.weight_cap},
        {"dp_clip", options.dp_clip}}},
      {"identities", identities},
      {"skipped", skipped},
      {"samples", manifest_samples}};
  if (trained) {
    const auto p = trained->policy->probabilities(trained->state);
    manifest["policy"] = {
        {"checkpoint", args.checkpoint},
        {"version", trained->policy->version()},
        {"probabilities", {{"k", p[0]}, {"weights", p[1]}, {"drop_level", p[2]}, {"noise", p[3]}}}};
  }
  samples.commit(written);
  labels.commit(written);
  weights.commit(written);
  write_file_atomic(out / "manifest.json", manifest.dump(1) + "\n");
  if (!args.preview.empty() && !preview[0].empty()) {
    write_png(args.preview, tile_grid(preview));
    spdlog::info(
        "preview: {} (top: originals; bottom: protected samples mapped back to pixels, "
        "missing channels zeroed, contrast stretched)",
        args.preview);
  }
  spdlog::info("wrote {} protected samples ({} x {} x {}) to {}{}", written, c, n, n, out.string(),
               skipped.empty() ? "" : fmt::format(", {} bad files skipped", skipped.size()));
}

}  // namespace

void add_mask_command(CLI::App& app) {
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "mask",
      "Mask a dataset and export the protected samples (protected.npy, labels.npy, "
      "weights.npy, manifest.json) for independent tools");
  cmd->add_option("--config", args->config_file, "YAML config (omit for the defaults)");
  cmd->add_option("--checkpoint", args->checkpoint,
                  "A training run's checkpoint.pt: mask with that run's config and, for "
                  "adaptive, draw each batch's action from its trained policy (instead of "
                  "--config). The run's finish (policy.finish: its last steps at the mildest "
                  "action) is not drawn; mask.method=mixup exports that action");
  cmd->add_option("--data", args->data,
                  "Image folder, one subfolder per identity (default: data.root of the config; "
                  "empty means the built-in synthetic faces)");
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--limit", args->limit, "Export at most N samples (0: all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--preview", args->preview,
                  "Also write a PNG grid: originals above what the protected samples look like");
  cmd->add_option("overrides", args->overrides, "key=value config overrides, e.g. mask.k=4");
  cmd->callback([args] { run_mask(*args); });
}

}  // namespace hymask::cli
