// hymask eval: evaluates a checkpoint on the protocol its data implies (ORL-id, LFW-disjoint-5 or
// synthetic identification), embeddings on masked inputs with k = 1.
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.h"
#include "core/config.h"
#include "core/data_source.h"
#include "core/files.h"
#include "worker/evaluate.h"
#include "worker/face_model.h"
#include "worker/trainer.h"

namespace hymask::cli {

void add_eval_command(CLI::App& app) {
  struct Args {
    std::string config_file;
    std::string checkpoint;
    std::string out;
    std::vector<std::string> overrides;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Evaluate a checkpoint: ORL-id top-1, or LFW-disjoint-5 10-fold verification "
      "accuracy, ROC AUC and TAR at FAR=1e-2; prints a table and JSON");
  cmd->add_option("--checkpoint", args->checkpoint, "checkpoint.pt of a run")->required();
  cmd->add_option("--config", args->config_file,
                  "YAML config (omit to use the config stored in the checkpoint)");
  cmd->add_option("--out", args->out, "Also write the JSON result to this file");
  cmd->add_option("overrides", args->overrides, "key=value config overrides");
  cmd->callback([args] {
    // The checkpoint's own config, with the overrides on top; or another config, which must
    // build the same model.
    const Config trained = checkpoint_config(args->checkpoint);
    Config config = trained;
    if (args->config_file.empty())
      apply_overrides(config, args->overrides);
    else
      config = load_config(args->config_file, args->overrides);
    const Masker masker = make_masker(config);
    FaceModel model(config, masker, open_data(config).dataset->num_classes());
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
    const nlohmann::json result = evaluate(config, model, masker);
    if (!args->out.empty()) write_file_atomic(args->out, result.dump(2) + "\n");
    std::cout << format_evaluation(result) << "\n" << result.dump(2) << "\n";
  });
}

}  // namespace hymask::cli
