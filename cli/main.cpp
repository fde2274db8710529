// hymask: the command-line front end. Exit codes: 0 success, 1 runtime failure (data, I/O),
// 2 usage or configuration error.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{
      "hymask: privacy-preserving face recognition training with adaptive hybrid masking\n"
      "(block-DCT frequency masking + MixUp, Wang et al., arXiv 2403.10558)."};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  hymask::cli::add_synth_command(app);
  hymask::cli::add_mask_command(app);
  hymask::cli::add_pack_command(app);
  hymask::cli::add_train_command(app);
  hymask::cli::add_eval_command(app);
  hymask::cli::add_embed_command(app);
  hymask::cli::add_status_command(app);
  hymask::cli::add_attack_command(app);
  hymask::cli::add_config_command(app);
  spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const hymask::ConfigError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
