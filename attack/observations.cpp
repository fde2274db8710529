#include "attack/observations.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "core/error.h"
#include "core/loader.h"
#include "core/random.h"
#include "worker/run_folder.h"

namespace hymask::attack {

FaceSet load_faces(std::shared_ptr<const FaceDataset> dataset, const std::vector<size_t>& indices,
                   const PreprocessOptions& preprocess, int threads) {
  FaceSet faces;
  faces.planes = color_planes(preprocess.color);
  faces.size = preprocess.size;
  BatchLoader loader(dataset, indices, 64, preprocess, BadFilePolicy::kSkip, threads, 4);
  while (std::optional<Batch> batch = loader.next()) {
    for (const std::string& problem : batch->skipped) spdlog::warn("skipped {}", problem);
    faces.pixels.insert(faces.pixels.end(), batch->pixels.begin(), batch->pixels.end());
    faces.labels.insert(faces.labels.end(), batch->labels.begin(), batch->labels.end());
    faces.keys.insert(faces.keys.end(), batch->keys.begin(), batch->keys.end());
  }
  return faces;
}

FaceSet load_targets(const Config& config, const DataSource& source, int count, int threads) {
  std::vector<size_t> indices(source.dataset->size());
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  if (count > 0 && size_t(count) < indices.size()) {
    indices = epoch_order(indices, config.seed, 0);
    indices.resize(size_t(count));
    std::sort(indices.begin(), indices.end());
  }
  return load_faces(source.dataset, indices, preprocess_options(config), threads);
}

FaceSet load_public_faces(const Config& config, int count, int threads) {
  Config aux = config;
  aux.data.format = "folder";
  aux.data.root = config.attack.aux_root;
  aux.data.split = "lfw5-aux";
  aux.data.pairs = "";
  aux.data.crop = config.attack.aux_crop;
  aux.data.shards = 0;
  const DataSource source = open_data(aux);
  std::vector<size_t> indices(source.dataset->size());
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  indices = epoch_order(indices, config.seed, 0);
  if (count > 0 && size_t(count) < indices.size()) indices.resize(size_t(count));
  return load_faces(source.dataset, indices, preprocess_options(aux), threads);
}

ActionAt action_source(const Config& config, const Masker& masker,
                       const std::filesystem::path& run) {
  if (parse_method(config.mask.method) != Method::kAdaptive) {
    const MixAction fixed = masker.default_action();
    return [fixed](uint64_t) { return fixed; };
  }
  const ActionHistory history = read_action_history(run, config.mask.weight_cap);
  if (history.actions.empty())
    throw Error(run.string() +
                " has no action history (actions-rank*.csv): it was trained by an older hymask; "
                "train it again to attack it");
  spdlog::info("adaptive: targets follow the run's {} recorded actions: {}", history.actions.size(),
               action_distribution(history).dump());
  auto actions = std::make_shared<const std::vector<MixAction>>(history.actions);
  const uint64_t seed = config.seed;
  return [actions, seed](uint64_t step) {
    Rng rng = Rng::stream(seed, step, 0, Purpose::kPolicy);
    return (*actions)[rng.below(actions->size())];
  };
}

FaceSet subset(const FaceSet& faces, size_t first, size_t count) {
  FaceSet out;
  out.planes = faces.planes;
  out.size = faces.size;
  const auto floats = std::ptrdiff_t(faces.image_floats());
  out.pixels.assign(faces.pixels.begin() + std::ptrdiff_t(first) * floats,
                    faces.pixels.begin() + std::ptrdiff_t(first + count) * floats);
  out.labels.assign(faces.labels.begin() + std::ptrdiff_t(first),
                    faces.labels.begin() + std::ptrdiff_t(first + count));
  out.keys.assign(faces.keys.begin() + std::ptrdiff_t(first),
                  faces.keys.begin() + std::ptrdiff_t(first + count));
  return out;
}

std::vector<float> mean_face(const FaceSet& faces) {
  std::vector<double> sum(faces.image_floats(), 0.0);
  for (size_t i = 0; i < faces.count(); ++i)
    for (size_t e = 0; e < sum.size(); ++e) sum[e] += faces.image(i)[e];
  std::vector<float> mean(sum.size());
  for (size_t e = 0; e < sum.size(); ++e)
    mean[e] = float(sum[e] / std::max<size_t>(1, faces.count()));
  return mean;
}

Observations observe(const FaceSet& faces, const Masker& masker, const ActionAt& action_at,
                     const LinearAttack& linear, int epochs, int batch_size, uint64_t seed,
                     uint64_t step_base, int previews, int threads) {
  Observations obs;
  obs.planes = faces.planes;
  obs.size = faces.size;
  obs.image_floats = faces.image_floats();
  std::vector<size_t> all(faces.count());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  const uint64_t steps_per_epoch = (all.size() + batch_size - 1) / batch_size;
  std::vector<float> batch_pixels;
  std::vector<uint64_t> keys;
  MaskedBatch masked;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const std::vector<size_t> order = epoch_order(all, seed, uint64_t(epoch));
    for (size_t start = 0; start < order.size(); start += batch_size) {
      const size_t end = std::min(order.size(), start + batch_size);
      batch_pixels.clear();
      keys.clear();
      for (size_t j = start; j < end; ++j) {
        batch_pixels.insert(batch_pixels.end(), faces.image(order[j]),
                            faces.image(order[j]) + obs.image_floats);
        keys.push_back(faces.keys[order[j]]);
      }
      const uint64_t step = step_base + uint64_t(epoch) * steps_per_epoch + start / batch_size;
      const MixAction action = action_at(step);
      masker.apply(batch_pixels.data(), keys, step, action, masked);
      const size_t first = obs.count();
      obs.linear.resize((first + masked.batch) * obs.image_floats);
      for (int i = 0; i < masked.batch; ++i) {
        std::vector<int> members;
        std::vector<float> weights;
        for (int j = 0; j < masked.k; ++j) {
          const float w = masked.weights[size_t(i) * masked.k + j];
          if (w <= 0) continue;  // padding of a short batch
          members.push_back(int(order[start + masked.members[size_t(i) * masked.k + j]]));
          weights.push_back(w);
        }
        obs.members.push_back(std::move(members));
        obs.weights.push_back(std::move(weights));
        obs.actions.push_back(action);
        if (first + i < size_t(previews)) {
          obs.protected_pixels.resize((first + i + 1) * obs.image_floats);
          masker.to_pixels(masked.data.data() + masked.sample_size() * i,
                           obs.protected_pixels.data() + (first + i) * obs.image_floats);
        }
      }
      // The linear attack, one sample per task.
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
          for (int i = t; i < masked.batch; i += threads)
            linear.reconstruct(masked.data.data() + masked.sample_size() * i,
                               obs.linear.data() + (first + i) * obs.image_floats);
        });
      for (std::thread& th : pool) th.join();
    }
  }
  return obs;
}

}  // namespace hymask::attack
