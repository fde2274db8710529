// The subcommands of `hymask`, each registering itself on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace hymask::cli {

void add_synth_command(CLI::App& app);
void add_mask_command(CLI::App& app);
void add_pack_command(CLI::App& app);
void add_config_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_embed_command(CLI::App& app);
void add_status_command(CLI::App& app);
void add_attack_command(CLI::App& app);

}  // namespace hymask::cli
