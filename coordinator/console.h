// The coordinator's status console over HTTP (Boost.Beast), on an address of its own (loopback by
// default; it shows training progress, not data, but bind it wider only behind a firewall):
//   GET /         a live dashboard page (plain HTML/JS, polls /status)
//   GET /status   JSON: workers, their state, step, throughput, loss; policy version, action
//                 distribution, reward baseline; a short history for the charts
//   GET /metrics  Prometheus text format
//   POST /control/{pause,resume,checkpoint,stop}  with "Authorization: Bearer TOKEN": commands to
//                 every worker; disabled unless a token is set ($HYMASK_CONSOLE_TOKEN)
// One request per connection; requests are bounded (8 KiB of headers, no body).
#pragma once

#include <boost/asio.hpp>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>

#include "coordinator/server.h"

namespace hymask::coordinator {

class Console {
 public:
  // `token`: what POST /control needs; empty disables control. `run_id`: reported in /status,
  // so that a launcher can tell its own coordinator from another job's on the same port.
  Console(boost::asio::io_context& io, const std::string& address, uint16_t port, Server& server,
          PolicyTrainer& trainer, std::string token = "", std::string run_id = "");
  uint16_t port() const;
  nlohmann::json status() const;
  std::string metrics() const;
  // The answer to POST /control/<action> with this Authorization header: (HTTP status, text).
  std::pair<int, std::string> control(const std::string& action, const std::string& authorization);

 private:
  void accept();
  void sample();  // once a second: a point of history for the charts

  boost::asio::io_context& io_;
  Server& server_;
  PolicyTrainer& trainer_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer timer_;
  std::deque<nlohmann::json> history_;
  std::string token_;
  std::string run_id_;
};

// The dashboard page.
extern const char* const kDashboardHtml;

}  // namespace hymask::coordinator
