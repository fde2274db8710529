// hymask train: trains the FR model with the configured masking method (local policy mode), then
// evaluates it. Ctrl-C (SIGINT) or SIGTERM stops at the next step with a checkpoint; --resume
// continues exactly where it stopped.
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <filesystem>

#include "attack/audit.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/error.h"
#include "worker/evaluate.h"
#include "worker/trainer.h"

namespace hymask::cli {
namespace fs = std::filesystem;

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void request_stop(int) {
  stop_requested = true;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends at once
}

struct Args {
  std::string config_file;
  std::string out = "runs/train";
  bool resume = false;
  bool evaluate = true;
  std::vector<std::string> overrides;
};

void run_train(const Args& args) {
  const fs::path run_dir = args.out;
  std::string config_file = args.config_file;
  if (args.resume && config_file.empty()) {
    config_file = (run_dir / "config.yaml").string();
    if (!fs::exists(config_file))
      throw Error("there is no run to resume in " + run_dir.string() +
                  " (no config.yaml): start one with `hymask train --config FILE --out " +
                  run_dir.string() + "`");
  }
  const Config config = load_config(config_file, args.overrides);
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  Trainer trainer(config, run_dir, args.resume);
  const TrainSummary summary = trainer.run(&stop_requested);
  if (!summary.finished) {
    spdlog::info("run {} paused at step {}/{}: continue with `hymask train --out {} --resume`",
                 run_dir.string(), summary.steps, summary.total_steps, run_dir.string());
    return;
  }
  if (summary.stages.steps == 0)
    spdlog::info("run {} had finished already: {} steps; checkpoint {}", run_dir.string(),
                 summary.steps, checkpoint_path(run_dir).string());
  else
    spdlog::info("training finished: {} steps, last loss {:.4f}; checkpoint {}", summary.steps,
                 summary.last_loss, checkpoint_path(run_dir).string());
  if (!args.evaluate) return;
  if (evaluation_protocol(config).empty()) {
    spdlog::info("no evaluation: data.split '{}' of an image folder has no protocol",
                 config.data.split);
    return;
  }
  attack::evaluate_and_audit(config, trainer.model(), summary.policy, run_dir);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Train the FR model with the configured masking method (none, mask, instahide, "
      "mixup, adaptive), then evaluate it. Writes config.yaml, checkpoint.pt, "
      "metrics.jsonl and eval.json into the run folder");
  cmd->add_option("--config", args->config_file,
                  "YAML config (omit for the defaults, or with --resume for the run's own)");
  cmd->add_option("--out", args->out, "Run folder")->capture_default_str();
  cmd->add_flag("--resume", args->resume, "Continue the run in --out from its checkpoint");
  cmd->add_flag("!--no-eval", args->evaluate, "Skip the evaluation after training");
  cmd->add_option("overrides", args->overrides, "key=value config overrides, e.g. train.epochs=5");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace hymask::cli
