// A worker's connection to hymask-coordinator, on a thread of its own so that training never
// waits for it: it connects (retrying with exponential backoff, also after the coordinator
// restarts), checks the coordinator's TLS certificate when TLS is on, authenticates both ways,
// sends heartbeats, statistics and reward records, and keeps the newest policy version it receives
// for the trainer to adopt at a step boundary.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "comm/protocol/tls.h"
#include "core/nn/policy.h"

namespace hymask {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7777;
  std::string secret;
  std::string config_hash;
  int rank = 0;
  protocol::TlsOptions tls = {};  // off: plain TCP
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds max_backoff{5000};
  size_t max_queued_records = 100000;  // beyond this the oldest are dropped (coordinator away)
};

class CoordinatorClient {
 public:
  explicit CoordinatorClient(ClientOptions options);
  ~CoordinatorClient();

  void report(const std::vector<nn::PolicyRecord>& records);
  void statistics(uint64_t step, double images_per_second, double loss, double accuracy);
  void set_step(uint64_t step) { step_ = step; }
  // The newest policy received, if newer than `version`.
  std::optional<std::pair<uint64_t, std::vector<float>>> newer_policy(uint64_t version);
  bool connected() const { return connected_; }
  // Why the coordinator refused this worker (wrong secret, another config, its rank taken by
  // another process): a refusal does not heal, so the client stops trying.
  std::optional<std::string> refusal() const;
  // Seconds since the client was last connected (or was created), 0 while connected.
  double seconds_unreachable() const;
  // Operator commands from the console: pause and resume hold, stop and checkpoint are taken
  // once (take_* resets them).
  bool paused() const { return paused_; }
  bool take_stop() { return stop_.exchange(false); }
  bool take_checkpoint() { return checkpoint_.exchange(false); }

 private:
  void run();
  bool session();  // one connection; false when it ended in a refusal

  ClientOptions options_;
  // Built once: a bad certificate file fails the constructor, not every reconnection.
  boost::asio::ssl::context tls_context_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> step_{0};
  std::atomic<bool> paused_{false}, stop_{false}, checkpoint_{false};
  mutable std::mutex mutex_;
  std::optional<std::string> refusal_;
  std::chrono::steady_clock::time_point last_connected_ = std::chrono::steady_clock::now();
  const std::string instance_;  // random, this process's (control.proto, Hello)
  std::deque<nn::PolicyRecord> records_;
  std::optional<std::string> pending_statistics_;  // a serialised Envelope
  uint64_t policy_version_ = 0;
  std::vector<float> policy_;
  bool has_policy_ = false;
  std::thread thread_;
};

}  // namespace hymask
