#include "worker/run_folder.h"

#include <errno.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <string>

#include "core/error.h"

namespace hymask {
namespace fs = std::filesystem;

namespace {
// Rewrites a CSV history (header, then rows whose first column is the step) without the rows of
// `from` on, which a resumed run computes again, and opens it for appending.
void open_csv_history(const fs::path& path, const std::string& header, int64_t from, bool resume,
                      std::ofstream& out) {
  std::string text = header + "\n";
  if (resume) {
    std::ifstream old(path);
    std::string line;
    std::getline(old, line);
    while (std::getline(old, line))
      if (!line.empty() && std::stoll(line.substr(0, line.find(','))) < from) text += line + "\n";
  }
  write_file_atomic(path, text);
  out.open(path, std::ios::app);
}
}  // namespace

RunFolder::RunFolder(const fs::path& dir, int rank, int world) : dir_(dir), rank_(rank) {
  fs::create_directories(dir_);
  if (leader())
    lock_ = std::make_unique<RunFolderLock>(
        dir_, fmt::format("{} (rank 0 of {})", program_invocation_short_name, world));
}

void RunFolder::open(const Config& config, int64_t step, bool resume, bool actions,
                     bool validation) {
  if (actions)
    open_csv_history(dir_ / fmt::format("actions-rank{}.csv", rank_),
                     "step,k,weights,drop_level,noise_epsilon,weight_cap", step, resume, actions_);
  if (!leader()) return;
  if (validation)
    open_csv_history(dir_ / "validation.csv", "step,epoch,val_accuracy", step, resume, validation_);
  // The run's config, without the stop point: `--resume` then runs on to the end.
  Config stored = config;
  stored.train.stop_after = 0;
  write_file_atomic(dir_ / "config.yaml", config_to_yaml(stored));
  // Keep the metrics of the steps the checkpoint covers; later ones are recomputed.
  std::string text;
  if (resume) {
    std::ifstream old(dir_ / "metrics.jsonl");
    for (std::string line; std::getline(old, line);) {
      const auto record = nlohmann::json::parse(line, nullptr, false);
      if (!record.is_discarded() && record.value("step", int64_t(0)) <= step) text += line + "\n";
    }
  }
  write_file_atomic(dir_ / "metrics.jsonl", text);
  metrics_.open(dir_ / "metrics.jsonl", std::ios::app);
}

void RunFolder::action(int64_t step, const MixAction& a) {
  actions_ << fmt::format("{},{},{},{},{},{}\n", step, a.k, weight_scheme_name(a.weights),
                          a.drop_level, a.noise_epsilon, a.weight_cap);
}

void RunFolder::validation(int64_t step, double epoch, double accuracy) {
  if (validation_.is_open())
    validation_ << fmt::format("{},{:.4f},{:.6f}\n", step, epoch, accuracy) << std::flush;
}

void RunFolder::metrics(const nlohmann::json& record) {
  if (metrics_.is_open()) metrics_ << record.dump() << "\n" << std::flush;
  actions_ << std::flush;
}

void RunFolder::stages(const nlohmann::json& stages) {
  if (leader()) write_file_atomic(dir_ / "stages.json", stages.dump(1) + "\n");
}

void RunFolder::flush() {
  actions_.flush();
}

ActionHistory read_action_history(const fs::path& run_dir, double unrecorded_cap) {
  ActionHistory history;
  std::vector<fs::path> files;
  if (fs::is_directory(run_dir))
    for (const auto& entry : fs::directory_iterator(run_dir)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("actions-rank", 0) == 0 && entry.path().extension() == ".csv")
        files.push_back(entry.path());
    }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    for (int row = 2; std::getline(in, line); ++row) {
      long long step;
      int k, drop;
      char scheme[16];
      double epsilon = 0;  // histories from before the noise head have four columns
      double cap = unrecorded_cap;
      if (std::sscanf(line.c_str(), "%lld,%d,%15[a-z],%d,%lf,%lf", &step, &k, scheme, &drop,
                      &epsilon, &cap) < 4)
        throw Error(fmt::format(
            "{} line {}: not a step,k,weights,drop_level[,noise_epsilon[,weight_cap]] row",
            file.string(), row));
      history.steps.push_back(step);
      history.actions.push_back({k, parse_weight_scheme(scheme), drop, epsilon, cap});
    }
  }
  return history;
}

nlohmann::json action_distribution(const ActionHistory& history) {
  std::map<std::string, double> k, weights, drop, noise, cap;
  const double n = double(std::max<size_t>(1, history.actions.size()));
  for (const MixAction& a : history.actions) {
    k[std::to_string(a.k)] += 1 / n;
    weights[weight_scheme_name(a.weights)] += 1 / n;
    drop[std::to_string(a.drop_level)] += 1 / n;
    noise[fmt::format("{}", a.noise_epsilon)] += 1 / n;  // "0": no noise
    cap[fmt::format("{}", a.weight_cap)] += 1 / n;       // "1": none
  }
  return {{"steps", history.actions.size()},
          {"k", k},
          {"weights", weights},
          {"drop_level", drop},
          {"noise_epsilon", noise},
          {"weight_cap", cap}};
}

double most_emitted_noise_epsilon(const ActionHistory& history) {
  // Keyed by epsilon, no noise as infinity: the least noise comes first and wins a tie.
  constexpr double kNone = std::numeric_limits<double>::infinity();
  std::map<double, int64_t, std::greater<>> counts;
  for (const MixAction& a : history.actions)
    ++counts[a.noise_epsilon > 0 ? a.noise_epsilon : kNone];
  double best = kNone;
  int64_t most = 0;
  for (const auto& [epsilon, count] : counts)
    if (count > most) best = epsilon, most = count;
  return best == kNone ? 0.0 : best;
}

}  // namespace hymask
