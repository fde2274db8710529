// Coordinator capacity: simulated workers (lightweight asynchronous clients in one process, one
// thread) authenticate, then each sends a reward batch at a fixed rate; the coordinator trains
// and broadcasts. Reports the sustained reward records/s and the latency from a policy update's
// broadcast to its arrival at the last worker (p50, p99).
//   build/bin/bench_coordinator [--workers 256] [--hz 10] [--records 4] [--seconds 10]
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "comm/protocol/auth.h"
#include "comm/protocol/frame.h"
#include "coordinator/server.h"

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
namespace control = hymask::control;
namespace protocol = hymask::protocol;

const char* kSecret = "benchmark-secret-0123456789";

struct Arrivals {
  std::mutex mutex;
  std::map<uint64_t, Clock::time_point> sent;
  std::map<uint64_t, std::vector<Clock::time_point>> received;
};

class SimulatedWorker : public std::enable_shared_from_this<SimulatedWorker> {
 public:
  SimulatedWorker(asio::io_context& io, uint16_t port, int rank, double hz, int records,
                  Arrivals& arrivals)
      : socket_(io),
        timer_(io),
        port_(port),
        rank_(rank),
        period_(1.0 / hz),
        records_(records),
        arrivals_(arrivals),
        auth_(kSecret) {}

  void start() {
    socket_.async_connect({asio::ip::make_address("127.0.0.1"), port_},
                          [self = shared_from_this()](boost::system::error_code ec) {
                            if (ec) return;
                            self->client_nonce_ = protocol::random_nonce();
                            control::Envelope hello;
                            hello.mutable_hello()->set_protocol_version(protocol::kVersion);
                            hello.mutable_hello()->set_rank(self->rank_);
                            hello.mutable_hello()->set_client_nonce(self->client_nonce_);
                            self->send(protocol::encode_frame(hello));
                            self->read();
                          });
  }
  uint64_t sent_records = 0;

 private:
  void send(std::string frame) {
    auto data = std::make_shared<std::string>(std::move(frame));
    asio::async_write(socket_, asio::buffer(*data), [data](boost::system::error_code, size_t) {});
  }
  void read() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              if (ec) return;
                              self->decoder_.feed(self->buffer_.data(), n);
                              while (auto m = self->decoder_.next()) self->handle(*m);
                              self->read();
                            });
  }
  void handle(const control::Envelope& m) {
    if (m.has_challenge()) {
      control::Envelope answer;
      answer.mutable_authenticate()->set_mac(
          auth_.mac("worker", m.challenge().server_nonce(), client_nonce_, rank_, "bench"));
      answer.mutable_authenticate()->set_config_hash("bench");
      send(protocol::encode_frame(answer));
    } else if (m.has_welcome()) {
      tick();
    } else if (m.has_policy_update()) {
      version_ = m.policy_update().version();
      std::lock_guard<std::mutex> lock(arrivals_.mutex);
      arrivals_.received[version_].push_back(Clock::now());
    }
  }
  void tick() {
    control::Envelope batch;
    for (int i = 0; i < records_; ++i) {
      auto* r = batch.mutable_reward_batch()->add_records();
      r->set_policy_version(version_);
      for (int s = 0; s < hymask::nn::kStateSize; ++s) r->add_state(0.1f * s);
      for (int a : {i % 6, i % 2, i % 4}) r->add_action(a);
      r->set_loss(10.0 + (rank_ + i) % 7);
    }
    send(protocol::encode_frame(batch));
    sent_records += records_;
    timer_.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(period_)));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->tick();
    });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  uint16_t port_;
  int rank_;
  double period_;
  int records_;
  Arrivals& arrivals_;
  protocol::Authenticator auth_;
  protocol::FrameDecoder decoder_;
  std::array<uint8_t, 64 * 1024> buffer_{};
  std::string client_nonce_;
  uint64_t version_ = 0;
};

int main(int argc, char** argv) {
  int workers = 256, records = 4;
  double hz = 10, seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--workers")) workers = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--hz")) hz = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--records")) records = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
  }
  torch::set_num_threads(1);
  spdlog::set_level(spdlog::level::err);  // 256 joins and partings are not news here
  Arrivals arrivals;
  asio::io_context server_io;
  // One update per second's worth of records from half the workers: a few updates a second.
  hymask::coordinator::PolicyTrainer trainer(hymask::nn::PolicyOptions{}, 1,
                                             {int(workers * records * hz / 4), 3.0, 8});
  hymask::coordinator::ServerOptions options;
  options.port = 0;
  options.secret = kSecret;
  options.config_hash = "bench";
  options.max_connections = size_t(workers) + 64;  // the default (1024) would refuse the rest
  options.on_broadcast = [&](uint64_t version) {
    std::lock_guard<std::mutex> lock(arrivals.mutex);
    arrivals.sent[version] = Clock::now();
  };
  hymask::coordinator::Server server(server_io, options, trainer);
  std::thread server_thread([&] { server_io.run(); });

  asio::io_context client_io;
  std::vector<std::shared_ptr<SimulatedWorker>> simulated;
  for (int r = 0; r < workers; ++r) {
    simulated.push_back(
        std::make_shared<SimulatedWorker>(client_io, server.port(), r, hz, records, arrivals));
    simulated.back()->start();
  }
  std::thread client_thread([&] { client_io.run(); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  client_io.stop();
  client_thread.join();
  asio::post(server_io, [&] { server_io.stop(); });
  server_thread.join();

  uint64_t sent = 0;
  for (const auto& w : simulated) sent += w->sent_records;
  std::vector<double> latencies;  // broadcast -> arrival at the last worker, for complete versions
  for (const auto& [version, when] : arrivals.sent) {
    const auto it = arrivals.received.find(version);
    if (it == arrivals.received.end() || int(it->second.size()) < workers) continue;
    const auto last = *std::max_element(it->second.begin(), it->second.end());
    latencies.push_back(std::chrono::duration<double>(last - when).count() * 1e3);
  }
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double q) {
    return latencies.empty() ? 0.0 : latencies[size_t(q * (latencies.size() - 1))];
  };
  std::printf(
      "%d workers x %.0f Hz x %d records, %.0f s: offered %.0f records/s, used %.0f "
      "records/s, %zu policy versions reached every worker; broadcast -> last worker "
      "p50 %.1f ms, p99 %.1f ms\n",
      workers, hz, records, seconds, sent / seconds, trainer.records_used() / seconds,
      latencies.size(), pct(0.5), pct(0.99));
  return 0;
}
