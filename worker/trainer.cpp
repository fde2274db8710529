#include "worker/trainer.h"

#include <ATen/autocast_mode.h>
#include <spdlog/spdlog.h>
#include <torch/nn/functional/normalization.h>
#include <torch/serialize.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "comm/launch.h"
#include "comm/self/self_communicator.h"
#include "core/error.h"
#include "core/files.h"
#include "core/loader.h"
#include "core/verification.h"
#include "worker/device.h"
#include "worker/platform.h"
#include "worker/policy_driver.h"
#include "worker/run_folder.h"

namespace hymask {
namespace fs = std::filesystem;

namespace {

// epoch_order's "epoch" for drawing the validation slice: no training epoch reaches it.
constexpr uint64_t kValidationEpoch = uint64_t(1) << 62;

// policy.reference's validation curve: (progress 0..1, accuracy in points).
std::vector<std::pair<double, double>> load_reference(const Config& config) {
  const fs::path run = config.policy.reference;
  const fs::path csv = run / "validation.csv";
  if (!fs::exists(run / "config.yaml") || !fs::exists(csv))
    throw ConfigError("policy.reference " + run.string() +
                      " holds no validation curve (config.yaml and validation.csv): train it "
                      "first with mask.method=mask train.val_samples=" +
                      std::to_string(config.train.val_samples) + " train.val_metric=" +
                      option_name(config.train.val_metric) + " and the same data and seed");
  const Config ref = load_config((run / "config.yaml").string());
  if (ref.data.root != config.data.root || ref.data.split != config.data.split ||
      ref.seed != config.seed || ref.train.val_samples != config.train.val_samples ||
      ref.train.val_metric != config.train.val_metric)
    throw ConfigError("policy.reference " + run.string() +
                      " was validated on another slice or metric: its data.root, data.split, "
                      "seed, train.val_samples and train.val_metric must equal this run's");
  std::vector<std::pair<double, double>> curve;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    double step, epoch, accuracy;
    if (std::sscanf(line.c_str(), "%lf,%lf,%lf", &step, &epoch, &accuracy) == 3)
      curve.emplace_back(epoch / ref.train.epochs, 100 * accuracy);
  }
  if (curve.empty()) throw ConfigError("policy.reference " + csv.string() + " has no rows");
  return curve;
}

std::string format_probabilities(const std::vector<float>& p) {
  std::string out;
  for (float v : p) out += fmt::format("{}{:.2f}", out.empty() ? "" : " ", v);
  return out;
}

}  // namespace

Trainer::Trainer(const Config& config, const fs::path& run_dir, bool resume,
                 comm::Communicator* communicator, comm::Communicator* gradients)
    : config_(config),
      run_dir_(run_dir),
      own_comm_(communicator ? nullptr : comm::make_self_communicator()),
      comm_(communicator ? communicator : own_comm_.get()),
      gradients_(gradients ? gradients : comm_),
      device_(training_device(config.train.device, comm::launch_info().local_rank)),
      rank_(comm_->rank()),
      world_(comm_->size()),
      timeout_(std::chrono::milliseconds(int64_t(config.train.comm_timeout_s * 1000))),
      data_(open_data(config, rank_, world_)),
      masker_(make_masker(config)) {
  torch::set_num_threads(config_.train.threads);
  if (config_.train.val_samples > 0) {  // held out of rank's first shard, the same every run
    std::vector<size_t>& shard = data_.shards.at(0);
    if (size_t(config_.train.val_samples) * 2 > shard.size())
      throw ConfigError("train.val_samples " + std::to_string(config_.train.val_samples) +
                        " would hold out more than half of a shard (" +
                        std::to_string(shard.size()) + " images): lower it");
    val_indices_ = epoch_order(shard, config_.seed, kValidationEpoch, uint64_t(rank_));
    val_indices_.resize(size_t(config_.train.val_samples));
    if (config_.train.val_metric == ValMetric::kVerification) {
      std::set<int> people;
      for (size_t i : val_indices_) people.insert(data_.dataset->label(i));
      if (people.size() == val_indices_.size())
        throw ConfigError("train.val_metric verification: the " +
                          std::to_string(config_.train.val_samples) +
                          " images of train.val_samples hold no two of one person: raise it, or "
                          "use train.val_metric=identification");
    }
    std::vector<size_t> sorted = val_indices_;
    std::sort(sorted.begin(), sorted.end());
    shard.erase(std::remove_if(
                    shard.begin(), shard.end(),
                    [&](size_t i) { return std::binary_search(sorted.begin(), sorted.end(), i); }),
                shard.end());
  }
  // Whole batches of every shard: the shortest shard of all ranks sets the epoch.
  int64_t shortest = INT64_MAX;
  for (const auto& shard : data_.shards) shortest = std::min<int64_t>(shortest, shard.size());
  classes_ = data_.dataset->num_classes();
  const torch::Tensor all =
      comm_->allgather(torch::tensor({shortest, int64_t(classes_)}), timeout_);
  shortest = all.select(1, 0).min().item<int64_t>();
  if (data_.per_rank_folder) {  // each folder holds other people: labels follow rank order
    const torch::Tensor counts = all.select(1, 1);
    label_offset_ = int(counts.narrow(0, 0, rank_).sum().item<int64_t>());
    classes_ = int(counts.sum().item<int64_t>());
  }
  if (shortest < config_.train.batch_size)
    throw ConfigError("train.batch_size " + std::to_string(config_.train.batch_size) +
                      " is larger than a shard of the training set (" + std::to_string(shortest) +
                      " images)");
  steps_per_epoch_ = shortest / config_.train.batch_size;
  total_steps_ = steps_per_epoch_ * config_.train.epochs;
  torch::manual_seed(config_.seed);
  model_ = std::make_unique<FaceModel>(config_, masker_, classes_);
  model_->to(device_);  // before the optimiser and the reducer take hold of its parameters
  optimizer_ = std::make_unique<nn::FusedSgd>(model_->parameters(),
                                              torch::optim::SGDOptions(config_.train.lr)
                                                  .momentum(config_.train.momentum)
                                                  .weight_decay(config_.train.weight_decay));
  if (parse_method(config_.mask.method) == Method::kAdaptive) {
    policy_ = make_policy_driver(config_, rank_);
    const nn::RewardDesign reward = policy_->policy().options().reward;
    if (reward == nn::RewardDesign::kTeacher) {
      teacher_ = std::make_unique<FaceModel>(config_, masker_, classes_);
      teacher_->to(device_);
      teacher_->follow(*model_, 0);
    }
    if (reward == nn::RewardDesign::kConstrained) reference_ = load_reference(config_);
  }
  folder_ = std::make_unique<RunFolder>(run_dir_, rank_, world_);
  if (resume) {
    if (!fs::exists(checkpoint_path(run_dir_)))
      throw Error("cannot resume: no checkpoint at " + checkpoint_path(run_dir_).string() +
                  " (start without --resume)");
    const std::string diff =
        experiment_difference(checkpoint_config(checkpoint_path(run_dir_)), config_);
    if (!diff.empty())
      throw ConfigError("cannot resume " + run_dir_.string() + ": key '" + diff +
                        "' differs from the checkpoint's config (resume with the same config, "
                        "or start a new run folder)");
    load_checkpoint();
  } else if (fs::exists(checkpoint_path(run_dir_))) {
    throw Error(run_dir_.string() +
                " already holds a run (checkpoint.pt): continue it with "
                "--resume, or choose another --out");
  }
  if (world_ > 1) {  // one rank has nothing to reduce: no buckets, no copies
    reducer_ = std::make_unique<comm::Reducer>(
        model_->parameters(), *gradients_, size_t(config_.train.bucket_mb * (1 << 20)), timeout_);
    reducer_->broadcast_parameters();
  }
  folder_->open(config_, step_, resume, policy_ != nullptr, !val_indices_.empty());
}

Trainer::~Trainer() = default;

double Trainer::learning_rate(int64_t step) const {
  const double warmup = config_.train.warmup_epochs * steps_per_epoch_;
  const double base = config_.train.lr;
  if (step < warmup) return base * (step + 1) / warmup;
  if (config_.train.schedule == "step") {
    double lr = base;
    for (int epoch : config_.train.lr_steps)
      if (step >= int64_t(epoch) * steps_per_epoch_) lr *= 0.1;
    return lr;
  }
  const double progress = (step - warmup) / std::max(1.0, total_steps_ - warmup);
  return base * 0.5 * (1 + std::cos(M_PI * progress));
}

double Trainer::validation_accuracy(double noise_epsilon) {
  // The held-out images never change: decode them once, and mask them as evaluation does (k = 1)
  // whenever the noise changes.
  if (!val_batch_) {
    BatchLoader loader(data_.dataset, val_indices_, int(val_indices_.size()),
                       preprocess_options(config_), config_.data.on_bad_file, 1, 1);
    val_batch_ = loader.next();
    if (!val_batch_) val_batch_.emplace();
  }
  if (val_noise_epsilon_ != noise_epsilon && val_batch_->size() > 0) {
    MixAction action = masker_.default_action();
    action.k = 1;
    action.noise_epsilon = noise_epsilon;
    masker_.apply(val_batch_->pixels.data(), val_batch_->keys, 0, action, val_batch_->masked);
    val_noise_epsilon_ = noise_epsilon;
  }
  if (val_batch_->size() == 0) return 0;
  MaskedBatch& m = val_batch_->masked;
  torch::NoGradGuard no_grad;
  model_->train(false);
  const torch::Tensor x =
      torch::from_blob(m.data.data(), {m.batch, m.channels, m.size, m.size}).to(device_);
  const torch::Tensor embeddings = model_->backbone->forward(x);
  model_->train(true);
  if (config_.train.val_metric == ValMetric::kVerification) {
    // From the decoded labels: a skipped bad file shifts the positions.
    if (val_pairs_.pairs.empty()) val_pairs_ = balanced_pairs(val_batch_->labels, config_.seed);
    if (val_pairs_.pairs.empty()) return 0;
    const torch::Tensor unit = torch::nn::functional::normalize(
        embeddings.to(torch::kFloat64).cpu(), torch::nn::functional::NormalizeFuncOptions().dim(1));
    const torch::Tensor cosine = unit.matmul(unit.t()).contiguous();
    const auto similarity = cosine.accessor<double, 2>();
    std::vector<double> scores;
    for (const auto& [a, b] : val_pairs_.pairs) scores.push_back(similarity[a][b]);
    return best_threshold_accuracy(scores, val_pairs_.same);
  }
  const torch::Tensor predicted = model_->head->cosine(embeddings).argmax(1).cpu();
  const torch::Tensor labels =
      torch::tensor(std::vector<int64_t>(val_batch_->labels.begin(), val_batch_->labels.end())) +
      label_offset_;
  return predicted.eq(labels).to(torch::kFloat64).mean().item<double>();
}

double Trainer::reference_accuracy(double progress) const {
  if (progress <= reference_.front().first) return reference_.front().second;
  for (size_t i = 1; i < reference_.size(); ++i)
    if (progress <= reference_[i].first) {
      const auto [p0, a0] = reference_[i - 1];
      const auto [p1, a1] = reference_[i];
      return a0 + (a1 - a0) * (progress - p0) / std::max(p1 - p0, 1e-12);
    }
  return reference_.back().second;
}

std::vector<size_t> Trainer::step_order(int64_t epoch) const {
  // Step t's batch: train.batch_size samples of each owned shard, shard by shard. One process
  // owning shards 0 and 1 therefore sees at step t exactly what ranks 0 and 1 see together.
  const size_t b = size_t(config_.train.batch_size);
  std::vector<std::vector<size_t>> orders;
  for (size_t i = 0; i < data_.shards.size(); ++i)
    orders.push_back(epoch_order(data_.shards[i], config_.seed, uint64_t(epoch),
                                 uint64_t(rank_ + int(i) * world_)));
  std::vector<size_t> order;
  for (int64_t t = 0; t < steps_per_epoch_; ++t)
    for (const auto& shard : orders)
      order.insert(order.end(), shard.begin() + t * b, shard.begin() + (t + 1) * b);
  return order;
}

nlohmann::json StageTimes::to_json() const {
  const double per_step = 1000.0 / std::max<int64_t>(1, steps);
  return {{"steps", steps},
          {"images", images},
          {"images_per_s", images / std::max(total, 1e-9)},
          {"ms_per_step",
           {{"decode (loader threads)", decode * per_step},
            {"preprocess (loader threads)", preprocess * per_step},
            {"mask (loader threads)", mask * per_step},
            {"data wait", data_wait * per_step},
            {"mask (at the step)", mask_in_loop * per_step},
            {"forward", forward * per_step},
            {"backward (all-reduce overlapped)", backward * per_step},
            {"all-reduce wait", allreduce_wait * per_step},
            {"optimizer", optimizer * per_step},
            {"total", total * per_step}}},
          {"data_wait_share", data_wait / std::max(total, 1e-9)}};
}

namespace {
double since(std::chrono::steady_clock::time_point& mark) {
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - mark).count();
  mark = now;
  return seconds;
}

// LibTorch 2.4 replaced autocast's per-device switches with one taking the device type.
#define TORCH_AT_LEAST_2_4 \
  (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))

// train.precision bf16: ops under this scope run in bfloat16 where autocast lists them
// (convolutions, matmuls) on `device`, on this thread only; what leaves it is converted back to
// float32.
class Autocast {
 public:
  Autocast(torch::Device device, bool enabled) : type_(device.type()), enabled_(enabled) {
    if (!enabled_) return;
#if TORCH_AT_LEAST_2_4
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
#else
    if (type_ == torch::kCUDA) {
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    } else {
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
#endif
    at::autocast::increment_nesting();
  }
  ~Autocast() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_AT_LEAST_2_4
    at::autocast::set_autocast_enabled(type_, false);
#else
    if (type_ == torch::kCUDA)
      at::autocast::set_enabled(false);
    else
      at::autocast::set_cpu_enabled(false);
#endif
  }

 private:
  torch::DeviceType type_;
  bool enabled_;
};

}  // namespace

torch::Tensor Trainer::upload(const torch::Tensor& host) const {
  if (device_.is_cpu()) return host;
  // Through page-locked memory (LibTorch's caching host allocator, which keeps a block until
  // the copy that reads it is done), so that the copy to the GPU is asynchronous. A batch of
  // 256 grey 112 x 112 faces is 13 MB, ~0.5 ms over PCIe 4, against ~100 ms for an IResNet-50
  // step: not worth a side stream.
  return host.pin_memory().to(device_, /*non_blocking=*/true);
}

Trainer::BatchTensors Trainer::tensors(Batch& batch) const {
  MaskedBatch& m = batch.masked;
  std::vector<int64_t> member_labels(m.members.size());
  for (size_t i = 0; i < m.members.size(); ++i)
    member_labels[i] = batch.labels[m.members[i]] + label_offset_;
  return {upload(torch::from_blob(m.data.data(), {m.batch, m.channels, m.size, m.size})),
          upload(torch::tensor(member_labels).view({m.batch, m.k})),
          upload(torch::from_blob(m.weights.data(), {m.batch, m.k}))};
}

double Trainer::teacher_loss(Batch& batch) {
  const BatchTensors t = tensors(batch);
  torch::NoGradGuard no_grad;
  teacher_->train(false);
  return teacher_->head->loss(teacher_->backbone->forward(t.x), t.labels, t.weights).item<double>();
}

double Trainer::train_step(Batch& batch, double lr) {
  auto mark = std::chrono::steady_clock::now();
  const BatchTensors t = tensors(batch);
  torch::Tensor embedding;
  {
    const Autocast autocast(device_, config_.train.precision == Precision::kBf16);
    embedding = model_->backbone->forward(t.x).to(torch::kFloat);
  }
  const torch::Tensor loss = model_->head->loss(embedding, t.labels, t.weights);
  stages_.forward += since(mark);
  loss.backward();
  stages_.backward += since(mark);
  if (reducer_) reducer_->finish();
  stages_.allreduce_wait += since(mark);
  optimizer_->step();
  stages_.optimizer += since(mark);
  const double value = loss.item<double>();
  if (!std::isfinite(value))
    throw Error(
        fmt::format("the loss diverged at step {} (lr {:.4g}): lower train.lr or "
                    "model.scale and start again",
                    step_, lr));
  tracker_.observe(value);
  return value;
}

TrainSummary Trainer::run(const std::atomic<bool>* stop) {
  const int64_t batch_size = config_.train.batch_size * int64_t(data_.shards.size());
  const int64_t end = config_.train.stop_after > 0
                          ? std::min<int64_t>(total_steps_, config_.train.stop_after)
                          : total_steps_;
  const bool adaptive = policy_ != nullptr;
  const int64_t val_every =
      config_.train.val_every > 0 ? config_.train.val_every : config_.train.log_every;
  keep_freed_memory();

  double loss_value = 0, window_images = 0;
  const auto loop_start = loop_start_ = std::chrono::steady_clock::now();
  stages_ = {};
  // The summary, with where the loop's time went (logged and written to stages.json by rank 0).
  auto summary = [&](bool finished) {
    folder_->flush();
    stages_.total =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count();
    if (leader() && stages_.steps > 0) {
      const nlohmann::json j = stages_.to_json();
      folder_->stages(j);
      std::string table;
      for (const auto& [stage, ms] : j["ms_per_step"].items())
        table += fmt::format("\n  {:<36} {:8.2f}", stage, ms.get<double>());
      spdlog::info("time per step (ms), waiting for data {:.1f}% of the loop:{}",
                   100 * j["data_wait_share"].get<double>(), table);
    }
    return TrainSummary{step_,    total_steps_, loss_value,
                        finished, stages_,      policy_ ? policy_report() : nlohmann::json()};
  };
  auto window_start = std::chrono::steady_clock::now();
  const PreprocessOptions pre = preprocess_options(config_);
  const MixAction fixed = masker_.default_action();
  if (leader())
    spdlog::info("training: {}; method {}; {} rank{}; {} steps ({} epochs of {}){}",
                 data_.description, config_.mask.method, world_, world_ > 1 ? "s" : "",
                 total_steps_, config_.train.epochs, steps_per_epoch_,
                 step_ > 0 ? fmt::format(", resuming at step {}", step_) : "");
  if (leader())
    for (const std::string& problem : data_.skipped) spdlog::warn("skipped {}", problem);
  if (leader() && device_.is_cpu() && config_.train.precision == Precision::kBf16 &&
      !cpu_has_bf16())
    spdlog::warn(
        "train.precision bf16 on a CPU without AVX512-BF16 or AMX: emulated, likely "
        "slower than fp32");
  if (leader() && uses_reference_blas())
    spdlog::warn(
        "LibTorch's matrix products run on the reference BLAS, which makes training about 2x "
        "slower: install an optimised one (sudo apt-get install libopenblas0-openmp)");
  model_->train(true);
  while (step_ < end) {
    const int64_t epoch = step_ / steps_per_epoch_;
    std::vector<size_t> order = step_order(epoch);
    order.erase(order.begin(), order.begin() + (step_ - epoch * steps_per_epoch_) * batch_size);
    // Fixed methods mask ahead in the loader threads; the adaptive action depends on the policy
    // of the moment, so it is drawn and applied here, at the step boundary.
    BatchLoader::Prepare prepare;
    if (!adaptive)
      prepare = [this, fixed, first = step_](Batch& b) {
        masker_.apply(b.pixels.data(), b.keys, uint64_t(first + int64_t(b.number)), fixed,
                      b.masked);
      };
    BatchLoader loader(data_.dataset, order, int(batch_size), pre, config_.data.on_bad_file,
                       config_.data.threads, config_.data.prefetch, prepare);
    while (step_ < end) {
      auto wait_start = std::chrono::steady_clock::now();
      std::optional<Batch> batch = loader.next();
      stages_.data_wait += since(wait_start);
      if (!batch) break;
      stages_.decode += batch->decode_seconds;
      stages_.preprocess += batch->preprocess_seconds;
      stages_.mask += batch->prepare_seconds;
      for (const std::string& problem : batch->skipped) spdlog::warn("skipped {}", problem);
      // A batch whose files were all bad: skipped alone; with other ranks, this one contributes
      // zero gradients, so that every rank still makes the same collectives.
      const bool usable = batch->size() >= 2;
      if (!usable && world_ == 1) {
        ++step_;
        continue;
      }
      const double progress = double(step_) / std::max<int64_t>(1, total_steps_);
      const std::array<float, nn::kStateSize> state = tracker_.state(progress);
      double shortfall = std::numeric_limits<double>::quiet_NaN();
      if (!val_indices_.empty() && step_ % val_every == 0) {
        // Adaptive is measured as it will be evaluated: at its usual noise, here the level its
        // policy now prefers (none without a noise head).
        const double noise =
            adaptive ? policy_->policy().preferred_noise_epsilon(state) : fixed.noise_epsilon;
        val_accuracy_ = validation_accuracy(noise);
        folder_->validation(step_, double(step_) / steps_per_epoch_, val_accuracy_);
        if (!reference_.empty()) shortfall = reference_accuracy(progress) - 100 * val_accuracy_;
      }
      MixAction action = fixed;
      const double lr = learning_rate(step_);
      for (auto& group : optimizer_->param_groups())
        static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
      optimizer_->zero_grad();
      if (!usable) {
        for (torch::Tensor& p : model_->parameters()) p.mutable_grad() = torch::zeros_like(p);
        reducer_->finish();
        optimizer_->step();
      } else {
        nn::ActionIndex index{};
        nn::PolicyRecord record;
        // The policy chooses, and learns from, every step but those of its finish.
        bool learning = false;
        if (adaptive) {
          policy_->begin_step(step_);
          const nn::Policy& policy = policy_->policy();
          learning = !policy.finishing(progress);
          if (learning) {
            index = policy.sample(state, uint64_t(step_));
            action = policy.to_mix_action(index);
          } else {
            action = policy.mildest();
          }
          auto mask_start = std::chrono::steady_clock::now();
          masker_.apply(batch->pixels.data(), batch->keys, uint64_t(step_), action, batch->masked);
          if (learning) {
            // What the in-loop linear attacker sees: each sample against its main face alone.
            MaskedBatch alone;
            masker_.apply(batch->pixels.data(), batch->keys, uint64_t(step_),
                          {1, action.weights, action.drop_level}, alone);
            record.leak = last_leak_ = main_constituent_similarity(batch->masked, alone);
          }
          stages_.mask_in_loop += since(mask_start);
          folder_->action(step_, action);
          if (teacher_ && learning) record.teacher_loss = teacher_loss(*batch);
        }
        loss_value = train_step(*batch, lr);
        if (learning) {
          if (teacher_) teacher_->follow(*model_, config_.policy.teacher_momentum);
          record.version = policy_->policy().version();
          record.state = state;
          record.action = index;
          record.loss = loss_value;
          record.shortfall = shortfall;
          policy_->record(record);
        }
      }
      ++step_;
      ++stages_.steps;
      stages_.images += int64_t(batch->size());
      window_images += double(batch->size());
      if (step_ % config_.train.log_every == 0 || step_ == end) {
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - window_start).count();
        double logged_loss = loss_value, images = window_images;
        {  // the mean loss and the images of all ranks
          torch::Tensor totals =
              torch::tensor({loss_value / world_, window_images}, torch::kFloat64);
          comm_->allreduce(totals, comm::ReduceOp::kSum, timeout_);
          logged_loss = totals[0].item<double>();
          images = totals[1].item<double>();
        }
        if (leader()) log_progress(logged_loss, images / std::max(seconds, 1e-9), action, state);
        if (policy_)
          policy_->statistics(step_, window_images / std::max(seconds, 1e-9), loss_value);
        window_start = now;
        window_images = 0;
      }
      if (config_.train.checkpoint_every > 0 && step_ % config_.train.checkpoint_every == 0)
        save_checkpoint();
      // Stop and pause (a signal, or the operator through the coordinator) take effect at the
      // same step on every rank, or the others would wait for the missing one.
      bool stopping = (stop && stop->load()) || (policy_ && policy_->take_stop());
      if (policy_ && policy_->take_checkpoint()) save_checkpoint();
      // A worker without a policy source ends the run (every rank, with a checkpoint) rather
      // than train on with a policy nobody updates.
      std::string lost = policy_ ? policy_->lost() : "";
      for (;;) {
        const bool paused = policy_ && policy_->paused() && !stopping;
        double flags[3] = {stopping ? 1.0 : 0.0, paused ? 1.0 : 0.0, lost.empty() ? 0.0 : 1.0};
        {
          torch::Tensor t = torch::tensor({flags[0], flags[1], flags[2]}, torch::kFloat64);
          comm_->allreduce(t, comm::ReduceOp::kSum, timeout_);
          for (int i = 0; i < 3; ++i) flags[i] = t[i].item<double>();
        }
        if (flags[2] > 0) {
          save_checkpoint();
          throw Error((lost.empty() ? std::string("another rank lost its coordinator") : lost) +
                      fmt::format("; stopped at step {} with a checkpoint: continue with "
                                  "--resume once the coordinator accepts this run",
                                  step_));
        }
        stopping = flags[0] > 0;
        if (stopping || flags[1] == 0) break;
        if (leader()) spdlog::info("paused at step {} by the coordinator", step_);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        if (stop && stop->load()) stopping = true;
        lost = policy_ ? policy_->lost() : "";
      }
      if (stopping) {
        save_checkpoint();
        if (leader())
          spdlog::info("stopped at step {}; checkpoint written, continue with --resume", step_);
        return summary(false);
      }
    }
  }
  save_checkpoint();
  return summary(step_ >= total_steps_);
}

void Trainer::log_progress(double loss, double images_per_second, const MixAction& action,
                           const std::array<float, nn::kStateSize>& state) {
  nlohmann::json record = {{"step", step_},
                           {"epoch", double(step_) / steps_per_epoch_},
                           {"loss", loss},
                           {"lr", learning_rate(step_ - 1)},
                           {"images_per_s", images_per_second}};
  if (val_accuracy_ >= 0) record["val_accuracy"] = val_accuracy_;
  std::string actions;
  if (policy_) {
    const nn::Policy& policy = policy_->policy();
    const auto p = policy.probabilities(state);
    record["policy"] = {{"version", policy.version()},
                        {"baseline", policy.baseline()},
                        {"multiplier", policy.multiplier()},
                        {"leak", last_leak_},
                        {"k", p[0]},
                        {"weights", p[1]},
                        {"drop_level", p[2]},
                        {"noise", p[3]}};
    actions = fmt::format("pi(k) [{}] pi(w) [{}] pi(t) [{}]", format_probabilities(p[0]),
                          format_probabilities(p[1]), format_probabilities(p[2]));
    if (p[3].size() > 1) actions += fmt::format(" pi(n) [{}]", format_probabilities(p[3]));
    if (config_.policy.noise_control) {
      const double epsilon = policy.preferred_noise_epsilon(state);
      record["policy"]["noise_epsilon"] = epsilon;
      actions += epsilon > 0 ? fmt::format(" eps={}", epsilon) : std::string(" eps=none");
    }
  } else {
    actions = fmt::format("k={} {} t={}", action.k, weight_scheme_name(action.weights),
                          action.drop_level);
    if (action.noise_epsilon > 0) actions += fmt::format(" eps={}", action.noise_epsilon);
  }
  folder_->metrics(record);
  // ETA from this process's own pace so far.
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start_).count();
  const double eta = elapsed / std::max<int64_t>(1, stages_.steps) * double(total_steps_ - step_);
  spdlog::info("step {}/{} epoch {:.2f} | ETA {} | {:.0f} img/s | loss {:.4f} | lr {:.4f} | {}{}",
               step_, total_steps_, record["epoch"].get<double>(),
               eta >= 3600 ? fmt::format("{}h{:02d}m", int(eta / 3600), int(eta / 60) % 60)
                           : fmt::format("{}m{:02d}s", int(eta / 60), int(eta) % 60),
               images_per_second, loss, record["lr"].get<double>(), actions,
               val_accuracy_ >= 0 ? fmt::format(" | val {:.1f}%", 100 * val_accuracy_) : "");
}

void Trainer::save_checkpoint() {
  folder_->flush();
  if (!leader()) return;  // rank 0 holds the same model as every rank
  torch::serialize::OutputArchive archive, model, optimizer;
  archive.write("step", torch::tensor(int64_t(step_)));
  archive.write("config", string_tensor(config_to_yaml(config_, false)));
  model_->save(model);
  archive.write("model", model);
  optimizer_->save(optimizer);
  archive.write("optimizer", optimizer);
  tracker_.save(archive);
  if (policy_) {
    policy_->save(archive);
    if (teacher_) {
      torch::serialize::OutputArchive teacher;
      teacher_->save(teacher);
      archive.write("teacher", teacher);
    }
  }
  write_checkpoint(run_dir_, archive);
}

void Trainer::load_checkpoint() {
  torch::serialize::InputArchive archive = open_checkpoint(checkpoint_path(run_dir_)), model,
                                 optimizer;
  torch::Tensor step;
  archive.read("step", step);
  step_ = step.item<int64_t>();
  archive.read("model", model);
  model_->load(model);
  archive.read("optimizer", optimizer);
  optimizer_->load(optimizer);
  // Checkpoints hold CPU tensors (any machine reads them); back to the training device.
  model_->to(device_);
  optimizer_->to(device_);
  tracker_.load(archive);
  if (policy_) {
    policy_->load(archive);
    if (teacher_) {
      torch::serialize::InputArchive teacher;
      archive.read("teacher", teacher);
      teacher_->load(teacher);
      teacher_->to(device_);
    }
  }
}

nlohmann::json Trainer::policy_report() const {
  nlohmann::json report = policy_->report();
  report["reward"] = config_.policy.reward;
  if (leader()) report["actions"] = action_distribution(read_action_history(run_dir_));
  return report;
}

}  // namespace hymask
