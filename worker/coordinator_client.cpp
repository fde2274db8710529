#include "worker/coordinator_client.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "comm/protocol/auth.h"
#include "comm/protocol/frame.h"
#include "core/error.h"

namespace hymask {

namespace asio = boost::asio;
using asio::ip::tcp;

CoordinatorClient::CoordinatorClient(ClientOptions options)
    : options_(std::move(options)),
      tls_context_(options_.tls.enabled ? protocol::client_tls_context(options_.tls)
                                        : asio::ssl::context(asio::ssl::context::tls_client)),
      instance_(protocol::random_nonce()) {
  thread_ = std::thread([this] { run(); });
}

CoordinatorClient::~CoordinatorClient() {
  stopping_ = true;
  thread_.join();
}

void CoordinatorClient::report(const std::vector<nn::PolicyRecord>& records) {
  std::lock_guard<std::mutex> lock(mutex_);
  records_.insert(records_.end(), records.begin(), records.end());
  while (records_.size() > options_.max_queued_records) records_.pop_front();
}

void CoordinatorClient::statistics(uint64_t step, double images_per_second, double loss,
                                   double accuracy) {
  control::Envelope message;
  auto* s = message.mutable_statistics();
  s->set_step(step);
  s->set_images_per_second(images_per_second);
  s->set_loss(loss);
  s->set_accuracy(accuracy);
  std::lock_guard<std::mutex> lock(mutex_);
  pending_statistics_ = protocol::encode_frame(message);
}

std::optional<std::string> CoordinatorClient::refusal() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return refusal_;
}

double CoordinatorClient::seconds_unreachable() const {
  if (connected_) return 0;
  std::lock_guard<std::mutex> lock(mutex_);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_connected_).count();
}

std::optional<std::pair<uint64_t, std::vector<float>>> CoordinatorClient::newer_policy(
    uint64_t version) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!has_policy_ || policy_version_ <= version) return std::nullopt;
  return std::make_pair(policy_version_, policy_);
}

void CoordinatorClient::run() {
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping_) {
    bool refused = false;
    try {
      refused = !session();
      backoff = std::chrono::milliseconds(100);  // it worked for a while: retry soon
    } catch (const std::exception& e) {
      spdlog::warn("coordinator {}:{}: {} (retrying in {} ms)", options_.host, options_.port,
                   e.what(), backoff.count());
    }
    if (connected_) {
      std::lock_guard<std::mutex> lock(mutex_);
      last_connected_ = std::chrono::steady_clock::now();
    }
    connected_ = false;
    if (refused) return;  // a refusal does not heal: the trainer ends the run with its reason
    for (auto waited = std::chrono::milliseconds(0); waited < backoff && !stopping_;
         waited += std::chrono::milliseconds(50))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool CoordinatorClient::session() {
  asio::io_context io;
  asio::ssl::stream<tcp::socket> stream(io, tls_context_);
  tcp::socket& socket = stream.next_layer();
  tcp::resolver resolver(io);
  asio::connect(socket, resolver.resolve(options_.host, std::to_string(options_.port)));
  if (options_.tls.enabled) {
    // The coordinator must hold a certificate we trust that names the host we asked for.
    SSL_set_tlsext_host_name(stream.native_handle(), options_.host.c_str());
    stream.set_verify_callback(asio::ssl::host_name_verification(options_.host));
    boost::system::error_code handshake = asio::error::timed_out;
    stream.async_handshake(asio::ssl::stream_base::client,
                           [&](boost::system::error_code ec) { handshake = ec; });
    io.run_for(std::chrono::seconds(10));
    io.restart();
    if (handshake)
      throw Error("TLS handshake failed: " + handshake.message() +
                  (handshake.category() == asio::error::get_ssl_category()
                       ? " (is coordinator.tls_trusted the certificate the coordinator presents, "
                         "and does it name " +
                             options_.host + "?)"
                       : ""));
  }
  socket.non_blocking(true);
  protocol::FrameDecoder decoder;
  std::array<uint8_t, 64 * 1024> buffer{};
  // Reads and writes go through TLS when it is on, straight to the socket when not.
  auto read_some = [&](boost::system::error_code& ec) {
    return options_.tls.enabled ? stream.read_some(asio::buffer(buffer), ec)
                                : socket.read_some(asio::buffer(buffer), ec);
  };
  auto send = [&](const std::string& frame) {  // blocking: a frame goes out whole
    socket.non_blocking(false);
    if (options_.tls.enabled)
      asio::write(stream, asio::buffer(frame));
    else
      asio::write(socket, asio::buffer(frame));
    socket.non_blocking(true);
  };
  // Reads whatever has arrived; returns the messages. Throws when the connection has ended and
  // every message that came before the end has been returned (a refusal comes just before it).
  std::string ended;
  auto poll = [&]() {
    std::vector<control::Envelope> messages;
    while (ended.empty()) {
      boost::system::error_code ec;
      const size_t n = read_some(ec);
      if (ec == asio::error::would_block) break;
      if (ec) ended = "connection ended: " + ec.message();
      decoder.feed(buffer.data(), n);
    }
    while (auto m = decoder.next()) messages.push_back(*m);
    if (messages.empty() && !ended.empty()) throw Error(ended);
    return messages;
  };
  auto wait_for = [&](auto&& accept) -> control::Envelope {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline && !stopping_) {
      for (const auto& m : poll()) {
        if (m.has_refused()) throw Error("refused: " + m.refused().reason());
        if (accept(m)) return m;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    throw Error("no answer during the handshake");
  };

  const protocol::Authenticator auth(options_.secret);
  const std::string client_nonce = protocol::random_nonce();
  control::Envelope hello;
  hello.mutable_hello()->set_protocol_version(protocol::kVersion);
  hello.mutable_hello()->set_rank(options_.rank);
  hello.mutable_hello()->set_client_nonce(client_nonce);
  hello.mutable_hello()->set_instance(instance_);
  send(protocol::encode_frame(hello));
  std::string server_nonce;
  try {
    server_nonce = wait_for([](const control::Envelope& m) { return m.has_challenge(); })
                       .challenge()
                       .server_nonce();
    control::Envelope answer;
    answer.mutable_authenticate()->set_mac(
        auth.mac("worker", server_nonce, client_nonce, options_.rank, options_.config_hash));
    answer.mutable_authenticate()->set_config_hash(options_.config_hash);
    send(protocol::encode_frame(answer));
    const control::Envelope welcome =
        wait_for([](const control::Envelope& m) { return m.has_welcome(); });
    if (!auth.verify(welcome.welcome().server_mac(), "coordinator", server_nonce, client_nonce,
                     options_.rank, options_.config_hash))
      throw Error("the coordinator failed to prove it knows the secret: not connecting");
  } catch (const Error& e) {
    if (std::string(e.what()).rfind("refused", 0) == 0) {
      spdlog::error("coordinator {}:{} {}", options_.host, options_.port, e.what());
      std::lock_guard<std::mutex> lock(mutex_);
      refusal_ = e.what();
      return false;
    }
    throw;
  }
  connected_ = true;
  spdlog::info("connected to the coordinator at {}:{}", options_.host, options_.port);
  auto last_heartbeat = std::chrono::steady_clock::time_point();
  while (!stopping_) {
    for (const auto& m : poll()) {
      if (m.has_policy_update()) {
        std::lock_guard<std::mutex> lock(mutex_);
        policy_version_ = m.policy_update().version();
        policy_.assign(m.policy_update().parameters().begin(),
                       m.policy_update().parameters().end());
        has_policy_ = true;
      } else if (m.has_command()) {
        switch (m.command().kind()) {
          case control::Command::PAUSE:
            paused_ = true;
            break;
          case control::Command::RESUME:
            paused_ = false;
            break;
          case control::Command::CHECKPOINT:
            checkpoint_ = true;
            break;
          case control::Command::STOP:
            stop_ = true;
            break;
          default:
            break;
        }
        spdlog::info("coordinator: {}", control::Command::Kind_Name(m.command().kind()));
      }
    }
    std::vector<std::string> frames;
    std::vector<nn::PolicyRecord> in_flight;  // re-queued if the connection breaks under them
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!records_.empty()) {
        control::Envelope batch;
        for (const nn::PolicyRecord& r : records_) {
          auto* out = batch.mutable_reward_batch()->add_records();
          out->set_policy_version(r.version);
          for (float v : r.state) out->add_state(v);
          for (int a : r.action) out->add_action(a);
          out->set_loss(r.loss);
          out->set_teacher_loss(r.teacher_loss);
          out->set_leak(r.leak);
          if (!std::isnan(r.shortfall)) out->set_shortfall(r.shortfall);
        }
        in_flight.assign(records_.begin(), records_.end());
        records_.clear();
        frames.push_back(protocol::encode_frame(batch));
      }
      if (pending_statistics_) {
        frames.push_back(*pending_statistics_);
        pending_statistics_.reset();
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_heartbeat > options_.heartbeat) {
      control::Envelope beat;
      beat.mutable_heartbeat()->set_step(step_);
      frames.push_back(protocol::encode_frame(beat));
      last_heartbeat = now;
    }
    try {
      for (const std::string& frame : frames) send(frame);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      records_.insert(records_.begin(), in_flight.begin(), in_flight.end());
      throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace hymask
