// hymask status: the coordinator's state as a compact table in the terminal (like squeue or
// nvidia-smi); --watch redraws it every two seconds until Ctrl-C.
#include <spdlog/fmt/fmt.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "comm/protocol/frame.h"
#include "core/error.h"

namespace hymask::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

nlohmann::json fetch_status(const std::string& address) {
  const auto [host, port] = protocol::parse_address(address);
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(5));
    stream.connect(resolver.resolve(host, std::to_string(port)));
    http::request<http::empty_body> request(http::verb::get, "/status", 11);
    request.set(http::field::host, host);
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    http::read(stream, buffer, parser);
    return nlohmann::json::parse(parser.get().body());
  } catch (const std::exception& e) {
    throw Error("cannot reach the coordinator's console at " + address + ": " + e.what() +
                " (is hymask-coordinator running? see coordinator.console)");
  }
}

std::string render(const nlohmann::json& s) {
  std::ostringstream out;
  const auto& p = s["policy"];
  out << fmt::format("policy v{}  baseline {:.3f}  rewards used {}  stale dropped {}\n",
                     p["version"].get<uint64_t>(), p["baseline"].get<double>(),
                     p["records_used"].get<uint64_t>(), p["dropped_stale"].get<uint64_t>());
  out << "pi(k):";
  const auto& k = p["k"];
  const int k_min = p.value("k_min", 1);
  for (size_t i = 0; i < k.size(); ++i)
    out << fmt::format(" {}:{:.2f}", int(i) + k_min, k[i].get<double>());
  out << fmt::format("   connections refused {}  bad frames {}\n\n",
                     s["connections"]["refused"].get<uint64_t>(),
                     s["connections"]["bad_frames"].get<uint64_t>());
  out << fmt::format("{:>6} {:>10} {:>9} {:>10} {:>9} {:>9} {:>8}\n", "WORKER", "STATE", "STEP",
                     "IMAGES/S", "LOSS", "REWARDS", "SEEN");
  for (const auto& w : s["workers"])
    out << fmt::format("{:>6} {:>10} {:>9} {:>10.0f} {:>9.4f} {:>9} {:>7.1f}s\n",
                       w["id"].get<int>(), w["state"].get<std::string>(), w["step"].get<uint64_t>(),
                       w["images_per_second"].get<double>(), w["loss"].get<double>(),
                       w["records"].get<uint64_t>(), w["seconds_since_seen"].get<double>());
  if (s["workers"].empty()) out << "(no worker has joined yet)\n";
  return out.str();
}

}  // namespace

void add_status_command(CLI::App& app) {
  struct Args {
    std::string coordinator = "127.0.0.1:7778";
    bool watch = false;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("status", "Show the coordinator's workers and policy");
  cmd->add_option("--coordinator", args->coordinator,
                  "host:port of the coordinator's console (coordinator.console)")
      ->capture_default_str();
  cmd->add_flag("--watch", args->watch,
                "Redraw every two seconds until Ctrl-C (riding out a coordinator that restarts)");
  cmd->add_flag("--json", args->json, "Print the console's /status JSON as it is");
  cmd->callback([args] {
    if (args->json) {
      std::cout << fetch_status(args->coordinator).dump(1) << "\n";
      return;
    }
    do {
      std::string table;
      try {
        table = render(fetch_status(args->coordinator));
      } catch (const Error& e) {
        if (!args->watch) throw;
        table = std::string(e.what()) + "\nreconnecting in 2 s (Ctrl-C to quit)\n";
      }
      if (args->watch) std::cout << "\033[H\033[2J";  // home, clear
      std::cout << table << std::flush;
      if (args->watch) std::this_thread::sleep_for(std::chrono::seconds(2));
    } while (args->watch);
  });
}

}  // namespace hymask::cli
