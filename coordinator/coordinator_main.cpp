// hymask-coordinator: trains the masking policy from the rewards of every worker and sends them
// each new version. Start it before the workers, with the same config and shared secret
// (cluster/launch.sh and cluster/slurm/ do it all):
//   HYMASK_SECRET_FILE=secret build/bin/hymask-coordinator --config configs/demo.yaml
//   HYMASK_SECRET_FILE=secret mpirun -np 2 build/bin/hymask-worker --config configs/demo.yaml
//       coordinator.address=127.0.0.1:7777
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <cstdlib>
#include <filesystem>

#include "comm/protocol/auth.h"
#include "coordinator/console.h"
#include "coordinator/server.h"
#include "core/config.h"
#include "core/environment.h"

int main(int argc, char** argv) {
  std::string config_file, listen, console, secret_file, run_id, state = "runs/coordinator";
  std::vector<std::string> overrides;
  CLI::App app{"hymask-coordinator: central training of the masking policy for hymask workers"};
  app.add_option("--config", config_file, "YAML config, the same as the workers'");
  app.add_option("--listen", listen, "host:port to listen on (default: coordinator.listen)");
  app.add_option("--console", console,
                 "host:port of the HTTP status console (default: coordinator.console)");
  app.add_option("--state", state,
                 "Folder of the coordinator's checkpoint (coordinator.pt): written after every "
                 "policy update, resumed from at start")
      ->capture_default_str();
  app.add_option("--secret-file", secret_file,
                 "File holding the shared secret (default: $HYMASK_SECRET_FILE or $HYMASK_SECRET)");
  app.add_option("--run-id", run_id,
                 "An id the console's /status reports, so that a launcher knows it talks to this "
                 "coordinator and not another job's");
  app.add_option("overrides", overrides, "key=value config overrides");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_pattern("[%H:%M:%S] [coordinator] %^%l%$ %v");
  try {
    const hymask::Config config = hymask::load_config(config_file, overrides);
    hymask::coordinator::ServerOptions options;
    std::tie(options.address, options.port) =
        hymask::protocol::parse_address(listen.empty() ? config.coordinator.listen : listen);
    options.secret = hymask::protocol::load_secret(secret_file);
    options.config_hash = hymask::protocol::config_hash(hymask::experiment_yaml(config));
    options.tls = hymask::protocol::tls_options(config);
    options.max_connections = size_t(config.coordinator.max_connections);
    options.update_interval =
        std::chrono::milliseconds(int64_t(config.coordinator.broadcast_seconds * 1000));
    options.heartbeat_timeout =
        std::chrono::milliseconds(int64_t(config.coordinator.heartbeat_timeout_s * 1000));
    hymask::coordinator::AggregationOptions aggregation;
    aggregation.update_every = config.coordinator.broadcast_every;
    hymask::coordinator::PolicyTrainer trainer(hymask::nn::policy_options(config), config.seed,
                                               aggregation);
    options.state_file = state + "/coordinator.pt";
    if (std::filesystem::exists(options.state_file)) {
      trainer.load(options.state_file);
      spdlog::info("resumed from {}: policy version {}", options.state_file, trainer.version());
    }
    boost::asio::io_context io;
    hymask::coordinator::Server server(io, options, trainer);
    const auto [console_host, console_port] =
        hymask::protocol::parse_address(console.empty() ? config.coordinator.console : console);
    hymask::coordinator::Console status(
        io, console_host, console_port, server, trainer,
        hymask::environment::get(hymask::environment::kConsoleToken), run_id);
    if (!options.tls.enabled && !boost::asio::ip::make_address(options.address).is_loopback())
      spdlog::warn(
          "listening on {} without TLS: rewards, policies and commands cross the network "
          "unencrypted (authenticated, but readable); set coordinator.tls=true "
          "(cluster/launch.sh --tls) off a trusted network",
          options.address);
    spdlog::info("listening on {}:{} for workers ({}); console at http://{}:{}/", options.address,
                 server.port(), options.tls.enabled ? "TLS" : "plain TCP: coordinator.tls is off",
                 console_host, status.port());
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int) {
      trainer.save(options.state_file);  // also when no update has happened yet
      spdlog::info("stopping: policy version {}, {} reward records used; state in {}",
                   trainer.version(), trainer.records_used(), options.state_file);
      io.stop();
    });
    io.run();
  } catch (const hymask::ConfigError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
