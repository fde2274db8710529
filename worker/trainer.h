// FR training with the masking method, in one process or data-parallel over a communicator: the
// FR model learns from masked, mixed samples while, for method `adaptive`, the policy learns from
// the batch losses to choose harder masking: in this process (local policy mode, each rank its
// own), or at hymask-coordinator (coordinator.address), which trains one policy from every
// worker's rewards; a worker then adopts each new version at its next step boundary.
// Each rank trains on its own shards (core/data_source.h) and masks its own data; only gradients
// leave it, averaged by the reducer. Rank 0 writes the run folder; every rank resumes from it.
// Checkpoints are atomic and resume exactly: the data order, masking and policy sampling are pure
// functions of (seed, step), and the checkpoint holds everything else (model, optimiser, policy and
// its optimiser, baseline, loss statistics, pending rewards).
// What the run folder holds: worker/run_folder.h and worker/checkpoint.h.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "comm/communicator.h"
#include "comm/reducer.h"
#include "core/config.h"
#include "core/data_source.h"
#include "core/loader.h"
#include "core/masking.h"
#include "core/nn/policy.h"
#include "core/nn/sgd.h"
#include "core/verification.h"
#include "worker/checkpoint.h"
#include "worker/face_model.h"

namespace hymask {

// Where the time of the training loop goes, summed over the steps of this process. The loader's
// stages run in its threads, ahead of the loop: they cost the loop only what it waits for data.
struct StageTimes {
  double decode = 0, preprocess = 0, mask = 0;  // loader threads (mask: fixed methods)
  double data_wait = 0;                         // the loop waiting for the next batch
  double mask_in_loop = 0;                      // adaptive: masking at the step boundary
  double forward = 0, backward = 0, allreduce_wait = 0, optimizer = 0;
  double total = 0;  // the whole loop
  int64_t steps = 0, images = 0;
  nlohmann::json to_json() const;
};

struct TrainSummary {
  int64_t steps = 0;        // steps done in total (including before a resume)
  int64_t total_steps = 0;  // steps of the whole schedule
  double last_loss = 0;
  bool finished = false;  // reached the end of the schedule
  StageTimes stages;      // this run's loop (not the steps before a resume)
  nlohmann::json policy;  // adaptive: the policy the run trained with (Trainer::policy_report)
};

class Trainer {
 public:
  // With `resume`, continues from run_dir/checkpoint.pt (the config must match the one there,
  // except for keys that do not change the result: see resumable_difference).
  // `communicator` null: one process, with a size-1 communicator of its own (the same code path).
  // It carries the ranks' agreements (CPU tensors); `gradients` (null: the same) averages the
  // gradients on the training device (NCCL for CUDA, comm/factory.h).
  Trainer(const Config& config, const std::filesystem::path& run_dir, bool resume,
          comm::Communicator* communicator = nullptr, comm::Communicator* gradients = nullptr);
  ~Trainer();

  // Trains until the end of the schedule, train.stop_after, or *stop becoming true (then it
  // checkpoints at the next step boundary).
  TrainSummary run(const std::atomic<bool>* stop = nullptr);

  FaceModel& model() { return *model_; }
  const Masker& masker() const { return masker_; }
  const DataSource& data() const { return data_; }
  int64_t step() const { return step_; }

 private:
  void save_checkpoint();
  void load_checkpoint();
  double learning_rate(int64_t step) const;
  // Top-1 on the held-out validation slice, masked with k = 1 and this noise (0: none).
  double validation_accuracy(double noise_epsilon);
  // The reference run's validation accuracy (points) at this run's progress (0..1).
  double reference_accuracy(double progress) const;
  // What the run's policy was: source, versions, multiplier, actions over the whole run.
  nlohmann::json policy_report() const;
  void log_progress(double loss, double images_per_second, const MixAction& action,
                    const std::array<float, nn::kStateSize>& state);
  std::vector<size_t> step_order(int64_t epoch) const;
  struct BatchTensors {
    torch::Tensor x, labels, weights;  // samples; B x k labels and weights of the constituents
  };
  BatchTensors tensors(Batch& batch) const;
  // A host tensor on the training device (itself on the CPU).
  torch::Tensor upload(const torch::Tensor& host) const;
  // Forward, backward, gradient averaging and the optimiser step on a masked batch; the loss.
  double train_step(Batch& batch, double lr);
  // The EMA teacher's loss on a masked batch (no gradient).
  double teacher_loss(Batch& batch);
  bool leader() const { return rank_ == 0; }

  Config config_;
  std::filesystem::path run_dir_;
  std::unique_ptr<class RunFolder> folder_;  // config, metrics, histories; rank 0 holds its lock
  std::unique_ptr<comm::Communicator> own_comm_;  // when none was given
  comm::Communicator* comm_;
  comm::Communicator* gradients_;
  torch::Device device_;
  int rank_ = 0;
  int world_ = 1;
  comm::Timeout timeout_;
  DataSource data_;
  int label_offset_ = 0;  // per-rank folders: where this rank's labels start
  int classes_ = 0;
  Masker masker_;
  std::unique_ptr<FaceModel> model_;
  std::unique_ptr<nn::FusedSgd> optimizer_;
  std::unique_ptr<comm::Reducer> reducer_;
  std::unique_ptr<class PolicyDriver> policy_;  // adaptive only
  nn::LossTracker tracker_;
  std::vector<size_t> val_indices_;  // the held-out validation slice
  std::optional<Batch> val_batch_;   // ... decoded once, masked per noise
  LabelledPairs val_pairs_;          // ... its pairs (train.val_metric verification)
  double val_noise_epsilon_ = -1;    // the noise it is masked with
  double val_accuracy_ = -1;         // its last measurement (-1: none yet)
  double last_leak_ = 0;             // the in-loop attacker's last measurement
  std::vector<std::pair<double, double>> reference_;  // (progress, val accuracy %) of
                                                      // policy.reference
  std::unique_ptr<FaceModel> teacher_;                // policy.reward teacher: EMA of model_
  int64_t step_ = 0;
  int64_t steps_per_epoch_ = 0;
  int64_t total_steps_ = 0;
  StageTimes stages_;
  std::chrono::steady_clock::time_point loop_start_;  // of this process's loop (the ETA)
};

}  // namespace hymask
