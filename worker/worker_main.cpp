// hymask-worker: one data-parallel training process. Launch N of them with mpirun or srun; rank
// and world size come from MPI (or Slurm's SLURM_PROCID / SLURM_NTASKS). Each trains on its own
// shards, masks its own data under its (local) policy, and exchanges only gradients.
//
//   mpirun -np 2 build/bin/hymask-worker --config configs/demo.yaml --out runs/dp
//
// SIGINT, SIGTERM and SIGUSR1 (Slurm's warning before a time limit) stop every rank at the next
// step boundary with a checkpoint. When the schedule is done, rank 0 writes OUT/finished.json:
// job scripts requeue until it exists (cluster/slurm/).
//
// Exit codes: 0 done or stopped with a checkpoint, 1 runtime failure, 2 configuration error,
// 3 a collective timed out (a rank died or hangs: restart the job; it resumes).
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "attack/audit.h"
#include "comm/factory.h"
#include "core/config.h"
#include "core/files.h"
#include "worker/device.h"
#include "worker/evaluate.h"
#include "worker/trainer.h"

namespace {

std::atomic<bool> stop_requested{false};
extern "C" void request_stop(int) {
  stop_requested = true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_file, out = "runs/worker";
  bool resume = false, auto_resume = false, evaluate = true;
  std::vector<std::string> overrides;
  CLI::App app{
      "hymask-worker: one rank of data-parallel hymask training (launch with mpirun or "
      "srun). Writes the run folder from rank 0; resumes from it with --resume."};
  app.add_option("--config", config_file, "YAML config (with --resume: the run's own)");
  app.add_option("--out", out, "Run folder (shared by all ranks)")->capture_default_str();
  app.add_flag("--resume", resume, "Continue the run in --out from its checkpoint");
  app.add_flag("--auto-resume", auto_resume,
               "Continue the run in --out if it has a checkpoint, else start it (for job "
               "scripts that are requeued)");
  app.add_flag("!--no-eval", evaluate, "Skip the evaluation after training (rank 0)");
  app.add_option("overrides", overrides, "key=value config overrides");
  CLI11_PARSE(app, argc, argv);

  const hymask::comm::LaunchInfo launch = hymask::comm::launch_info();
  // No colour codes: mpirun and srun hand ranks a pseudo-terminal, but their output ends up in
  // log files.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "worker", std::make_shared<spdlog::sinks::stdout_sink_mt>()));
  spdlog::set_pattern(fmt::format("[%H:%M:%S] [rank {}] %^%l%$ %v", launch.rank));
  if (launch.rank != 0) spdlog::set_level(spdlog::level::warn);  // rank 0 speaks for the job
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  std::signal(SIGUSR1, request_stop);
  // Outside the try: on a failure the process ends in the handler, without shutting MPI down
  // (MPI_Finalize would wait for the rank that is gone).
  hymask::comm::TrainingCommunicators comms;
  try {
    if (auto_resume && std::filesystem::exists(hymask::checkpoint_path(out))) {
      resume = true;
      config_file.clear();  // the run's own config, as it was started
    }
    if (resume && config_file.empty()) config_file = out + "/config.yaml";
    const hymask::Config config = hymask::load_config(config_file, overrides);
    comms = hymask::comm::make_training_communicators(
        config.train.backend,
        hymask::training_device(config.train.device, launch.local_rank).is_cuda(), launch);
    // Held by pointer for the same reason: its reducer would wait for collectives that failed.
    auto trainer = std::make_unique<hymask::Trainer>(config, out, resume, comms.control.get(),
                                                     comms.gradients.get());
    const hymask::TrainSummary summary = trainer->run(&stop_requested);
    if (!summary.finished) {
      spdlog::info("run {} paused at step {}/{}: continue with `--out {} --resume`", out,
                   summary.steps, summary.total_steps, out);
    } else if (launch.rank == 0) {
      if (evaluate && !hymask::evaluation_protocol(config).empty())
        hymask::attack::evaluate_and_audit(config, trainer->model(), summary.policy, out);
      nlohmann::json finished = {{"steps", summary.steps}, {"loss", summary.last_loss}};
      if (!summary.policy.is_null()) finished["policy"] = summary.policy;
      hymask::write_file_atomic(out + "/finished.json", finished.dump() + "\n");
    }
    trainer.reset();
  } catch (const hymask::comm::CollectiveTimeout& e) {
    spdlog::error("{}", e.what());
    std::fflush(nullptr);
    std::_Exit(3);  // MPI cannot be shut down cleanly with a collective in flight
  } catch (const hymask::ConfigError& e) {
    spdlog::error("{}", e.what());
    std::fflush(nullptr);
    std::_Exit(2);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    std::fflush(nullptr);
    std::_Exit(1);
  }
  return 0;
}
