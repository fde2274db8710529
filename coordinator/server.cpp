#include "coordinator/server.h"

#include <spdlog/spdlog.h>

#include <deque>

namespace hymask::coordinator {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
std::string short_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < std::min<size_t>(bytes.size(), 4); ++i) {
    out += digits[uint8_t(bytes[i]) >> 4];
    out += digits[uint8_t(bytes[i]) & 15];
  }
  return out;
}
}  // namespace

class Server::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, tcp::socket socket)
      : server_(server),
        stream_(std::move(socket), server.tls_context_),
        timer_(server.io_),
        decoder_(server.options_.max_frame) {
    boost::system::error_code ec;
    const auto endpoint = stream_.next_layer().remote_endpoint(ec);
    peer_ = ec ? "?" : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  void start() {
    server_.sessions_[this] = shared_from_this();
    // A peer that does not finish the handshake in time is dropped (slow or idle intruders).
    timer_.expires_after(server_.options_.handshake_timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->authenticated_) {
        ++self->server_.counters_.timed_out;
        self->close("no handshake within the timeout");
      }
    });
    if (!server_.options_.tls.enabled) return read();
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = shared_from_this()](boost::system::error_code ec) {
                              if (!ec) return self->read();
                              ++self->server_.counters_.refused;
                              self->close("TLS handshake failed: " + ec.message());
                            });
  }

  void send(const control::Envelope& message) {
    outbox_.push_back(protocol::encode_frame(message));
    if (outbox_.size() == 1) write();
  }

  bool authenticated() const { return authenticated_; }
  uint32_t worker_id() const { return worker_id_; }

  void close(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    spdlog::warn("connection {} closed: {}", peer_, why);
    boost::system::error_code ec;
    stream_.next_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream_.next_layer().close(ec);
    timer_.cancel();
    if (authenticated_) {
      auto it = server_.workers_.find(worker_id_);
      if (it != server_.workers_.end()) it->second.connected = false;
    }
    server_.sessions_.erase(this);
  }

 private:
  // Runs `operation` on the TLS stream, or on the plain socket under it when TLS is off.
  template <typename Operation>
  void on_stream(Operation&& operation) {
    if (server_.options_.tls.enabled)
      operation(stream_);
    else
      operation(stream_.next_layer());
  }

  void read() {
    on_stream([this](auto& stream) {
      stream.async_read_some(asio::buffer(buffer_),
                             [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                               self->on_read(ec, n);
                             });
    });
  }

  void on_read(boost::system::error_code ec, size_t n) {
    if (ec) return close(ec == asio::error::eof ? "peer left" : ec.message());
    decoder_.feed(buffer_.data(), n);
    try {
      while (auto message = decoder_.next()) {
        handle(*message);
        if (closed_) return;
      }
    } catch (const protocol::ProtocolError& e) {
      ++server_.counters_.bad_frames;
      return close(e.what());
    }
    read();
  }

  void write() {
    on_stream([this](auto& stream) {
      asio::async_write(stream, asio::buffer(outbox_.front()),
                        [self = shared_from_this()](boost::system::error_code ec, size_t) {
                          if (ec) return self->close(ec.message());
                          self->outbox_.pop_front();
                          if (!self->outbox_.empty()) self->write();
                        });
    });
  }

  void refuse(const std::string& reason) {
    ++server_.counters_.refused;
    control::Envelope message;
    message.mutable_refused()->set_reason(reason);
    send(message);
    close("refused: " + reason);
  }

  void handle(const control::Envelope& message) {
    if (!authenticated_) return handshake(message);
    WorkerInfo& info = server_.workers_[worker_id_];
    info.last_seen = std::chrono::steady_clock::now();
    switch (message.body_case()) {
      case control::Envelope::kHeartbeat:
        info.step = message.heartbeat().step();
        break;
      case control::Envelope::kStatistics:
        info.step = message.statistics().step();
        info.images_per_second = message.statistics().images_per_second();
        info.loss = message.statistics().loss();
        info.accuracy = message.statistics().accuracy();
        break;
      case control::Envelope::kRewardBatch: {
        std::vector<nn::PolicyRecord> records;
        for (const auto& r : message.reward_batch().records()) {
          if (r.state_size() != nn::kStateSize || r.action_size() != nn::kHeads)
            return close("malformed reward record");
          nn::PolicyRecord record;
          record.version = r.policy_version();
          std::copy(r.state().begin(), r.state().end(), record.state.begin());
          for (int h = 0; h < nn::kHeads; ++h) {
            const int a = r.action(h);
            if (a < 0 || a >= server_.trainer_.policy().net()->categories[h])
              return close("reward record with an action out of range");
            record.action[h] = a;
          }
          record.loss = r.loss();
          record.teacher_loss = r.teacher_loss();
          record.leak = r.leak();
          if (r.has_shortfall()) record.shortfall = r.shortfall();
          records.push_back(record);
        }
        info.records += server_.trainer_.add(worker_id_, records);
        if (server_.trainer_.ready()) server_.update_and_broadcast();
        break;
      }
      default:
        return close("unexpected message after the handshake");
    }
  }

  void handshake(const control::Envelope& message) {
    if (message.has_hello() && server_nonce_.empty()) {
      const auto& hello = message.hello();
      if (hello.protocol_version() != protocol::kVersion)
        return refuse("protocol version " + std::to_string(hello.protocol_version()) + " is not " +
                      std::to_string(protocol::kVersion));
      if (hello.client_nonce().size() != protocol::kNonceSize || hello.rank() < 0)
        return refuse("malformed hello");
      rank_ = hello.rank();
      instance_ = hello.instance().substr(0, 64);
      client_nonce_ = hello.client_nonce();
      server_nonce_ = protocol::random_nonce();
      control::Envelope challenge;
      challenge.mutable_challenge()->set_server_nonce(server_nonce_);
      return send(challenge);
    }
    if (message.has_authenticate() && !server_nonce_.empty()) {
      const auto& a = message.authenticate();
      if (!server_.auth_.verify(a.mac(), "worker", server_nonce_, client_nonce_, rank_,
                                a.config_hash()))
        return refuse("authentication failed (wrong secret?)");
      if (a.config_hash() != server_.options_.config_hash)
        return refuse("config " + short_hex(a.config_hash()) + " differs from the coordinator's " +
                      short_hex(server_.options_.config_hash) +
                      " (start both with the same config file and overrides)");
      worker_id_ = uint32_t(rank_);
      // One live connection per rank: the same process reconnecting replaces its old one; another
      // process claiming the rank (a second job on this coordinator) is refused.
      for (auto& [raw, weak] : server_.sessions_)
        if (auto other = weak.lock(); other && other.get() != this && other->authenticated_ &&
                                      !other->closed_ && other->worker_id_ == worker_id_) {
          if (other->instance_ != instance_)
            return refuse("rank " + std::to_string(rank_) + " is already connected from " +
                          other->peer_ +
                          " by another worker process (is a second job using this "
                          "coordinator? give it its own coordinator and run folder)");
          other->close("replaced by a new connection of the same worker");
          break;
        }
      authenticated_ = true;
      timer_.cancel();
      WorkerInfo& info = server_.workers_[worker_id_];
      info.id = worker_id_;
      info.rank = rank_;
      info.connected = true;
      info.last_seen = std::chrono::steady_clock::now();
      spdlog::info("worker {} (rank {}) joined from {}", worker_id_, rank_, peer_);
      control::Envelope welcome;
      welcome.mutable_welcome()->set_worker_id(worker_id_);
      welcome.mutable_welcome()->set_server_mac(server_.auth_.mac(
          "coordinator", server_nonce_, client_nonce_, rank_, server_.options_.config_hash));
      welcome.mutable_welcome()->set_policy_version(server_.trainer_.version());
      send(welcome);
      server_.broadcast_to(*this);
      return;
    }
    refuse("unexpected message during the handshake");
  }

  Server& server_;
  asio::ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  protocol::FrameDecoder decoder_;
  std::array<uint8_t, 64 * 1024> buffer_{};
  std::deque<std::string> outbox_;
  std::string peer_, server_nonce_, client_nonce_;
  int32_t rank_ = -1;
  std::string instance_;  // the worker process's random id
  uint32_t worker_id_ = 0;
  bool authenticated_ = false;
  bool closed_ = false;
};

Server::Server(asio::io_context& io, ServerOptions options, PolicyTrainer& trainer)
    : io_(io),
      options_(std::move(options)),
      trainer_(trainer),
      auth_(options_.secret),
      tls_context_(options_.tls.enabled ? protocol::server_tls_context(options_.tls)
                                        : asio::ssl::context(asio::ssl::context::tls_server)),
      acceptor_(io),
      membership_timer_(io),
      update_timer_(io) {
  const tcp::endpoint endpoint(asio::ip::make_address(options_.address), options_.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  boost::system::error_code ec;
  acceptor_.bind(endpoint, ec);
  if (ec)
    throw Error("cannot listen on " + options_.address + ":" + std::to_string(options_.port) +
                ": " + ec.message() + " (is another coordinator running? choose another port)");
  acceptor_.listen();
  accept();
  check_membership();
  schedule_timed_update();
}

void Server::update_and_broadcast() {
  trainer_.update();
  if (!options_.state_file.empty()) trainer_.save(options_.state_file);
  broadcast_policy();
}

void Server::schedule_timed_update() {
  if (options_.update_interval.count() <= 0) return;
  update_timer_.expires_after(options_.update_interval);
  update_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    if (trainer_.pending() > 0) update_and_broadcast();
    schedule_timed_update();
  });
}

Server::~Server() {
  for (auto& [raw, weak] : std::map<Session*, std::weak_ptr<Session>>(sessions_))
    if (auto s = weak.lock()) s->close("coordinator shutting down");
}

uint16_t Server::port() const {
  return acceptor_.local_endpoint().port();
}

void Server::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (sessions_.size() >= options_.max_connections) {
        spdlog::warn("connection refused: {} connections already", sessions_.size());
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<Session>(*this, std::move(socket))->start();
      }
    }
    accept();
  });
}

void Server::check_membership() {
  membership_timer_.expires_after(options_.heartbeat_timeout / 4);
  membership_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    const auto now = std::chrono::steady_clock::now();
    for (auto& [raw, weak] : std::map<Session*, std::weak_ptr<Session>>(sessions_)) {
      auto s = weak.lock();
      if (!s || !s->authenticated()) continue;
      if (now - workers_[s->worker_id()].last_seen > options_.heartbeat_timeout) {
        ++counters_.timed_out;
        s->close("worker " + std::to_string(s->worker_id()) + " lost: no heartbeat");
      }
    }
    check_membership();
  });
}

std::vector<WorkerInfo> Server::workers() const {
  std::vector<WorkerInfo> out;
  for (const auto& [id, info] : workers_) out.push_back(info);
  return out;
}

control::Envelope policy_message(PolicyTrainer& trainer) {
  control::Envelope message;
  auto* update = message.mutable_policy_update();
  update->set_version(trainer.version());
  for (float v : trainer.policy().parameters()) update->add_parameters(v);
  return message;
}

void Server::broadcast_to(Session& session) {
  session.send(policy_message(trainer_));
  ++counters_.updates_sent;
}

void Server::command(control::Command::Kind kind) {
  control::Envelope message;
  message.mutable_command()->set_kind(kind);
  for (auto& [raw, weak] : sessions_)
    if (auto s = weak.lock(); s && s->authenticated()) s->send(message);
  spdlog::info("command {} sent to the workers", control::Command::Kind_Name(kind));
}

void Server::broadcast_policy() {
  if (options_.on_broadcast) options_.on_broadcast(trainer_.version());
  const control::Envelope message = policy_message(trainer_);
  for (auto& [raw, weak] : sessions_)
    if (auto s = weak.lock(); s && s->authenticated()) {
      s->send(message);
      ++counters_.updates_sent;
    }
}

}  // namespace hymask::coordinator
