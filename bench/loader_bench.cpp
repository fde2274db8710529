// Loader throughput: images/s of the training input pipeline (read, decode, crop and resize,
// block-DCT masking and mixing), as the trainer's loader threads run it, from an image folder or
// from a RecordIO set, on 1 and on --threads loader threads. Best of --rounds passes over the
// first --images samples of epoch 0's order; the per-stage seconds are summed over the threads.
//
// Usage: build/bin/bench_loader --data DIR|PREFIX [--format folder|recordio] [--config FILE]
//            [--images 3000] [--threads 2] [key=value ...]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <optional>

#include "core/config.h"
#include "core/data_source.h"
#include "core/loader.h"
#include "core/masking.h"

namespace {

using namespace hymask;

struct Pass {
  double seconds = 0, read_decode = 0, preprocess = 0, mask = 0;
  size_t images = 0;
};

Pass one_pass(const Config& config, const DataSource& source, const std::vector<size_t>& order,
              const Masker& masker, int threads) {
  const PreprocessOptions preprocess = preprocess_options(config);
  const MixAction action = masker.default_action();
  Pass pass;
  const auto start = std::chrono::steady_clock::now();
  BatchLoader loader(source.dataset, order, config.train.batch_size, preprocess,
                     BadFilePolicy::kSkip, threads, config.data.prefetch, [&](Batch& b) {
                       masker.apply(b.pixels.data(), b.keys, b.number, action, b.masked);
                     });
  while (std::optional<Batch> batch = loader.next()) {
    pass.images += batch->size();
    pass.read_decode += batch->decode_seconds;
    pass.preprocess += batch->preprocess_seconds;
    pass.mask += batch->prepare_seconds;
  }
  pass.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return pass;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("hymask loader throughput");
  std::string config_file = "configs/lfw.yaml", data, format = "folder";
  int images = 3000, threads = 2, rounds = 2;
  std::vector<std::string> overrides;
  app.add_option("--config", config_file, "config whose data and mask sections to use");
  app.add_option("--data", data, "image folder, or RecordIO PREFIX")->required();
  app.add_option("--format", format, "folder | recordio");
  app.add_option("--images", images, "images per pass");
  app.add_option("--threads", threads, "loader threads of the second measurement");
  app.add_option("--rounds", rounds, "passes per measurement (the best counts)");
  app.add_option("overrides", overrides, "key=value config overrides");
  CLI11_PARSE(app, argc, argv);
  try {
    overrides.push_back("data.root=" + data);
    overrides.push_back("data.format=" + format);
    overrides.push_back("data.split=all");
    const Config config = load_config(config_file, overrides);
    const DataSource source = open_data(config);
    std::vector<size_t> all(source.dataset->size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    std::vector<size_t> order = epoch_order(all, config.seed, 0);
    if (size_t(images) < order.size()) order.resize(size_t(images));
    const PreprocessOptions preprocess = preprocess_options(config);
    const Masker masker(mask_options(config), preprocess.size, preprocess.color);
    std::printf("%s: %zu images, %s %d px, mask.method %s k=%d, batch %d\n",
                source.description.c_str(), order.size(), config.data.color.c_str(),
                preprocess.size, config.mask.method.c_str(), masker.default_action().k,
                config.train.batch_size);
    std::printf(
        "| format | threads | images/s | images/s per thread | read+decode ms | "
        "crop+resize ms | mask ms (per image, summed over threads) |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- |\n");
    for (int t : {1, threads}) {
      Pass best;
      for (int r = 0; r < rounds; ++r) {
        const Pass p = one_pass(config, source, order, masker, t);
        if (best.images == 0 || p.seconds < best.seconds) best = p;
      }
      const double rate = double(best.images) / best.seconds;
      std::printf("| %s | %d | %.0f | %.0f | %.3f | %.3f | %.3f |\n", format.c_str(), t, rate,
                  rate / t, 1e3 * best.read_decode / double(best.images),
                  1e3 * best.preprocess / double(best.images),
                  1e3 * best.mask / double(best.images));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loader: %s\n", e.what());
    return 1;
  }
  return 0;
}
