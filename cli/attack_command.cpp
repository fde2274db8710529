// hymask attack: the attack suite on one trained run (attack/attack_run.h).
#include <spdlog/spdlog.h>

#include "attack/attack_run.h"
#include "cli/commands.h"

namespace hymask::cli {

void add_attack_command(CLI::App& app) {
  auto request = std::make_shared<attack::AttackRequest>();
  std::string run, evaluator, out;
  CLI::App* cmd = app.add_subcommand(
      "attack",
      "Attack a trained run: linear inversion, multi-observation demixing, learned "
      "reconstruction and model inversion, scored by SSIM, PSNR and an independent "
      "evaluator's identity hits; writes attack.json and grid.png. The reconstruction trains "
      "one network per action the targets were emitted under (an adaptive run: each of its "
      "actions, so as many times as long as for a fixed method), each "
      "attack.reconstruction_restarts times (default 3), keeping the one with the lowest error "
      "on held-out public faces. The run's FR model is attacked as its evaluation used it: "
      "with the BatchNorm statistics eval.batchnorm re-estimates (the run's setting, or "
      "eval.batchnorm=public as an override: the model a user would deploy)");
  cmd->add_option("--run", request->run, "Run folder of hymask train")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--evaluator", request->evaluator,
                  "Run folder of an FR model trained on the raw training images "
                  "(mask.method=none, another seed)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", request->out, "Output folder (default: RUN/attack)");
  cmd->add_option(
      "overrides", request->overrides,
      "attack.* (and eval.batchnorm) settings as key=value, e.g. attack.inversion_steps=100");
  cmd->callback([request] {
    if (request->out.empty()) request->out = request->run / "attack";
    const nlohmann::json r = attack::run_attacks(*request);
    spdlog::info(
        "attacks on {} ({}): linear SSIM {:.3f} hit {:.1f}% | multi-observation recovered "
        "{:.1f}% | reconstruction SSIM {:.3f} hit {:.1f}% (per person {:.1f}%) | model "
        "inversion top-1 {:.1f}% | {}/attack.json",
        request->run.string(), r["method"].get<std::string>(), r["linear"]["ssim"].get<double>(),
        100 * r["linear"]["identity_hit"].get<double>(),
        100 * r["multi_observation"]["recovered_share"].get<double>(),
        r["reconstruction"]["ssim"].get<double>(),
        100 * r["reconstruction"]["identity_hit"].get<double>(),
        100 * r["reconstruction"]["identity_hit_per_person"].get<double>(),
        100 * r["model_inversion"]["top1"].get<double>(), request->out.string());
  });
}

}  // namespace hymask::cli
