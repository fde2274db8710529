// hymask eval: evaluates a checkpoint on the protocol its data implies (ORL-id, LFW-disjoint-5 or
// synthetic identification), or on InsightFace verification sets (--bin) or an LFW-format pairs
// file (--pairs); embeddings on masked inputs with k = 1.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "core/config.h"
#include "core/files.h"
#include "worker/batchnorm_calibration.h"
#include "worker/checkpoint.h"
#include "worker/evaluate.h"
#include "worker/face_model.h"
#include "worker/trainer.h"

namespace hymask::cli {

void add_eval_command(CLI::App& app) {
  struct Args {
    std::string config_file;
    std::string checkpoint;
    std::string out;
    std::string bins;
    std::string pairs;
    bool flip = false;
    std::vector<std::string> overrides;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Evaluate a checkpoint: ORL-id top-1, or LFW-disjoint-5 10-fold verification "
      "accuracy, ROC AUC and TAR at FAR=1e-2..1e-4; or InsightFace's verification protocol on "
      ".bin sets (--bin); prints a table and JSON");
  cmd->add_option("--checkpoint", args->checkpoint, "checkpoint.pt of a run")->required();
  cmd->add_option("--config", args->config_file,
                  "YAML config (omit to use the config stored in the checkpoint)");
  cmd->add_option("--out", args->out, "Also write the JSON result to this file");
  cmd->add_option("--bin", args->bins,
                  "InsightFace verification sets (lfw.bin,cfp_fp.bin,agedb_30.bin,...), comma "
                  "separated: 10-fold accuracy as arcface_torch reports it, AUC, TAR@FAR");
  cmd->add_option("--pairs", args->pairs,
                  "An LFW-format pairs.txt: verify all its pairs on the images of data.root "
                  "(folds as its header says; LFW: 10 of 600 lines), instead of the data's own "
                  "protocol")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--flip", args->flip,
                "With --bin or --pairs: add each image's mirrored embedding (arcface_torch's "
                "flip test)");
  cmd->add_option("overrides", args->overrides,
                  "key=value config overrides (eval.batchnorm=public re-estimates the BatchNorm "
                  "statistics on public faces first)");
  cmd->callback([args] {
    // The checkpoint's own config, with the overrides on top; or another config, which must
    // build the same model.
    const Config trained = checkpoint_config(args->checkpoint);
    Config config = trained;
    if (args->config_file.empty())
      apply_overrides(config, args->overrides);
    else
      config = load_config(args->config_file, args->overrides);
    const Masker masker =
        make_eval_masker(config, std::filesystem::path(args->checkpoint).parent_path());
    FaceModel model(config, masker, checkpoint_classes(args->checkpoint));
    try {
      load_checkpoint_model(args->checkpoint, model);
    } catch (const Error&) {
      const std::string key = experiment_difference(trained, config);
      throw ConfigError(args->checkpoint +
                        " was trained with another model than this config "
                        "builds" +
                        (key.empty() ? std::string() : ": '" + key + "' differs") +
                        " (evaluate with the checkpoint's own config: omit --config)");
    }
    if (args->flip && args->bins.empty() && args->pairs.empty())
      throw ConfigError("--flip applies to --bin and --pairs evaluations");
    std::vector<std::string> bins;
    std::istringstream list(args->bins);
    for (std::string bin; std::getline(list, bin, ',');) {
      if (!std::filesystem::is_regular_file(bin))
        throw ConfigError("--bin " + bin + ": no such file");
      bins.push_back(bin);
    }
    const nlohmann::json batchnorm = recalibrate_batchnorm(config, model, masker);
    std::vector<nlohmann::json> results;
    for (const std::string& bin : bins)
      results.push_back(evaluate_bin(config, model, masker, bin, args->flip));
    if (!args->pairs.empty())
      results.push_back(evaluate_pairs_file(config, model, masker, args->pairs, args->flip));
    if (results.empty()) results.push_back(evaluate(config, model, masker));
    if (!batchnorm.is_null())
      for (nlohmann::json& r : results) r["batchnorm"] = batchnorm;
    // One result is printed as it always was; several as a list, one line of the table each.
    const nlohmann::json result = results.size() == 1 ? results[0] : nlohmann::json(results);
    if (!args->out.empty()) write_file_atomic(args->out, result.dump(2) + "\n");
    for (const nlohmann::json& r : results) std::cout << format_evaluation(r) << "\n";
    std::cout << result.dump(2) << "\n";
  });
}

}  // namespace hymask::cli
