#include <spdlog/spdlog.h>

#include <chrono>

#include "cli/commands.h"
#include "core/synth.h"

namespace hymask::cli {

void add_synth_command(CLI::App& app) {
  struct Args {
    std::string out;
    SynthOptions options;
    int threads = 2;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Write the built-in synthetic face dataset as an image folder (DIR/id_NNNN/*.png)");
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--identities", args->options.identities, "Number of identities")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--images", args->options.images_per_identity, "Images per identity")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--size", args->options.size, "Image side in pixels")
      ->capture_default_str()
      ->check(CLI::Range(16, 4096));
  cmd->add_option("--seed", args->options.seed, "Seed (same seed, same faces)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Rendering threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->callback([args] {
    const SyntheticFaces faces(args->options);
    const auto start = std::chrono::steady_clock::now();
    write_synthetic_faces(faces, args->out, args->threads);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("wrote {} faces of {} identities to {} in {:.1f} s", faces.size(),
                 faces.num_classes(), args->out, seconds);
  });
}

}  // namespace hymask::cli
