// The coordinator's TCP server (Boost.Asio, one thread): authenticates workers (the handshake of
// comm/protocol/control.proto), takes their heartbeats, statistics and rewards, trains the policy
// (PolicyTrainer) and sends every authenticated worker each new version. A connection that sends
// a bad frame, fails authentication, or is silent through the handshake is closed and logged; the
// others are not affected. With coordinator.tls every connection starts with a TLS handshake.
// Binds to an explicit address (loopback by default).
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "comm/protocol/auth.h"
#include "comm/protocol/frame.h"
#include "comm/protocol/tls.h"
#include "coordinator/policy_trainer.h"

namespace hymask::coordinator {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 7777;  // 0: any free port (tests)
  std::string secret;
  std::string config_hash;        // workers must present the same
  protocol::TlsOptions tls = {};  // off: plain TCP
  uint32_t max_frame = protocol::kDefaultMaxFrame;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds heartbeat_timeout{30000};
  size_t max_connections = 1024;
  std::string state_file;  // the trainer's state is written here after every update ("" = not)
  // Also update (and broadcast) this often when records wait, however few; 0 = only by count.
  std::chrono::milliseconds update_interval{0};
  std::function<void(uint64_t version)> on_broadcast;  // observers (benchmarks), on the io thread
};

struct WorkerInfo {
  uint32_t id = 0;
  int rank = -1;
  bool connected = false;
  uint64_t step = 0;
  double images_per_second = 0, loss = 0, accuracy = 0;
  uint64_t records = 0;
  std::chrono::steady_clock::time_point last_seen;
};

struct ServerCounters {
  uint64_t refused = 0;     // failed TLS handshake, failed authentication or config mismatch
  uint64_t bad_frames = 0;  // protocol errors
  uint64_t timed_out = 0;   // silent through the handshake, or heartbeats stopped
  uint64_t updates_sent = 0;
};

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options, PolicyTrainer& trainer);
  ~Server();
  uint16_t port() const;
  std::vector<WorkerInfo> workers() const;
  const ServerCounters& counters() const { return counters_; }
  // Sends the current policy to every authenticated worker.
  void broadcast_policy();
  // Sends an operator command (pause, resume, checkpoint, stop) to every worker.
  void command(control::Command::Kind kind);

 private:
  class Session;
  friend class Session;
  void accept();
  void check_membership();
  void broadcast_to(Session& session);
  void update_and_broadcast();
  void schedule_timed_update();

  boost::asio::io_context& io_;
  ServerOptions options_;
  PolicyTrainer& trainer_;
  protocol::Authenticator auth_;
  boost::asio::ssl::context tls_context_;  // unused when options_.tls is off
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer membership_timer_;
  boost::asio::steady_timer update_timer_;
  std::map<Session*, std::weak_ptr<Session>> sessions_;
  std::map<uint32_t, WorkerInfo> workers_;  // by worker id (= rank)
  ServerCounters counters_;
};

}  // namespace hymask::coordinator
