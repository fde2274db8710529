#include <iostream>

#include "cli/commands.h"
#include "core/config.h"

namespace hymask::cli {

void add_config_command(CLI::App& app) {
  struct Args {
    std::string file;
    std::vector<std::string> overrides;
  };
  auto args = std::make_shared<Args>();
  CLI::App* config = app.add_subcommand("config", "Inspect configurations");
  config->require_subcommand(1);
  CLI::App* check = config->add_subcommand(
      "check",
      "Validate a config file (and overrides) and print it resolved, every key with its "
      "meaning; an unknown or ill-typed key is an error naming the key and the file");
  check->add_option("file", args->file, "YAML config file (omit for the defaults)");
  check->add_option("overrides", args->overrides, "key=value overrides, e.g. mask.k=4");
  check->callback([args] {
    if (args->file.find('=') != std::string::npos) {  // only overrides were given
      args->overrides.insert(args->overrides.begin(), args->file);
      args->file.clear();
    }
    std::cout << config_to_yaml(load_config(args->file, args->overrides));
  });
}

}  // namespace hymask::cli
