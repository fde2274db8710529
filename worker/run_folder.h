// What a training run writes into its folder besides checkpoint.pt (worker/checkpoint.h):
//   config.yaml        the resolved config, without the stop point (rank 0)
//   metrics.jsonl      one JSON record per log step (rank 0)
//   validation.csv     train.val_samples: the held-out slice's accuracy (rank 0)
//   actions-rankR.csv  adaptive: every step's action on rank R, which is what the attacks sample
//                      their targets from
//   stages.json        where the training loop's time went (rank 0)
// Rank 0 holds the folder's lock: one run folder, one job. A resumed run first cuts every history
// back to the checkpoint's step, so that no step is written twice; every rewrite is atomic.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/config.h"
#include "core/files.h"
#include "core/masking.h"

namespace hymask {

class RunFolder {
 public:
  // Creates the folder; rank 0 takes its lock (a second job there fails with the holder's name).
  RunFolder(const std::filesystem::path& dir, int rank, int world);

  const std::filesystem::path& dir() const { return dir_; }
  // Opens the histories at `step` (cut back to it with `resume`): the actions for an adaptive
  // run, and on rank 0 the metrics and, with `validation`, the validation curve.
  void open(const Config& config, int64_t step, bool resume, bool actions, bool validation);

  void action(int64_t step, const MixAction& action);
  void validation(int64_t step, double epoch, double accuracy);
  void metrics(const nlohmann::json& record);
  void stages(const nlohmann::json& stages);
  // The action history on disk before a checkpoint: it never lags one, whatever kills the process.
  void flush();

 private:
  bool leader() const { return rank_ == 0; }
  std::filesystem::path dir_;
  int rank_;
  std::unique_ptr<RunFolderLock> lock_;
  std::ofstream actions_, validation_, metrics_;
};

// Every rank's actions of an adaptive run folder, in file order (rank 0's first).
struct ActionHistory {
  std::vector<int64_t> steps;
  std::vector<MixAction> actions;
};
// Histories written before each action's weight cap was recorded capped every action at the
// run's mask.weight_cap: pass it as `unrecorded_cap`.
ActionHistory read_action_history(const std::filesystem::path& run_dir,
                                  double unrecorded_cap = 1.0);
// Shares of each k, weight scheme, drop level, noise epsilon and weight cap in a history.
nlohmann::json action_distribution(const ActionHistory& history);
// The noise epsilon of most of a history's actions (0: none, also for an empty history; a tie
// goes to the least noise).
double most_emitted_noise_epsilon(const ActionHistory& history);

}  // namespace hymask
