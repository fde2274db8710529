// The coordinator: robust policy aggregation, hostile connections, and workers training against it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <boost/asio.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "comm/protocol/auth.h"
#include "comm/protocol/frame.h"
#include "coordinator/console.h"
#include "coordinator/server.h"
#include "core/random.h"
#include "tests/test_util.h"
#include "worker/coordinator_client.h"
#include "worker/trainer.h"

namespace hymask::coordinator {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

const char* kSecret = "a-test-secret-of-enough-bytes";

std::array<float, nn::kStateSize> state_of(Rng& rng) {
  std::array<float, nn::kStateSize> s{};
  for (float& v : s) v = float(rng.uniform(-1, 1));
  return s;
}

TEST(PolicyTrainer, OneAdversarialWorkerCannotTakeThePolicyOver) {
  nn::PolicyOptions o;
  o.lr = 0.05;
  o.entropy = 0.001;
  o.drop_levels = 4;  // three heads of several choices each
  PolicyTrainer trainer(o, 3, {64, 3.0, 4});
  const nn::ActionIndex honest_best{3, 1, 2}, attacker_wants{0, 0, 0};
  Rng rng(9);
  for (int round = 0; round < 250; ++round) {
    for (uint32_t worker = 0; worker < 5; ++worker) {
      std::vector<nn::PolicyRecord> records;
      for (int i = 0; i < 16; ++i) {
        nn::PolicyRecord r;
        r.version = trainer.version();
        r.state = state_of(rng);
        r.action = trainer.policy().sample(r.state, rng.next());
        if (worker == 4) {  // the attacker: a huge reward for its action, nothing otherwise
          r.loss = r.action == attacker_wants ? 1e9 : -1e9;
        } else {
          r.loss = rng.normal() * 0.3;
          for (int h = 0; h < nn::kHeads; ++h) r.loss += r.action[h] == honest_best[h];
        }
        records.push_back(r);
      }
      trainer.add(worker, records);
    }
    if (trainer.ready()) trainer.update();
  }
  const auto p = trainer.policy().probabilities(state_of(rng));
  for (int h = 0; h < nn::kHeads; ++h)
    EXPECT_GT(p[h][honest_best[h]], 0.6) << "head " << h << ": the attacker moved the policy";
  // Stale records are dropped.
  nn::PolicyRecord old;
  old.version = 0;
  EXPECT_EQ(trainer.add(0, {old}), 0u);
  EXPECT_GT(trainer.dropped_stale(), 0u);
}

// A coordinator on a thread of its own, on a free loopback port.
struct RunningServer {
  asio::io_context io;
  PolicyTrainer trainer;
  std::unique_ptr<Server> server;
  std::thread thread;

  explicit RunningServer(int update_every = 8, std::string hash = "hash", uint16_t port = 0,
                         std::string state_file = "", protocol::TlsOptions tls = {})
      : trainer(nn::PolicyOptions{}, 1, {update_every, 3.0, 4}) {
    if (!state_file.empty() && std::filesystem::exists(state_file)) trainer.load(state_file);
    ServerOptions o;
    o.port = port;
    o.state_file = std::move(state_file);
    o.secret = kSecret;
    o.config_hash = std::move(hash);
    o.max_frame = 1 << 16;
    o.handshake_timeout = 1s;
    o.tls = std::move(tls);
    server = std::make_unique<Server>(io, o, trainer);
    thread = std::thread([this] { io.run(); });
  }
  ~RunningServer() {
    asio::post(io, [this] { server.reset(); });
    io.stop();
    thread.join();
  }
  ServerCounters counters() {
    ServerCounters c;
    asio::post(io, [&] { c = server->counters(); });
    std::this_thread::sleep_for(50ms);
    return c;
  }
};

// Sends raw bytes and reports whether the server closed the connection within a second.
bool closed_after(uint16_t port, const std::string& bytes) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(socket, asio::buffer(bytes));
  socket.non_blocking(true);
  std::array<char, 4096> buffer{};
  for (int i = 0; i < 200; ++i) {
    boost::system::error_code ec;
    socket.read_some(asio::buffer(buffer), ec);
    if (ec && ec != asio::error::would_block) return true;  // eof: closed by the server
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// Reports `count` rewards from `worker` and waits up to 3 s for the policy version they lead to.
std::optional<std::pair<uint64_t, std::vector<float>>> policy_after_rewards(
    CoordinatorClient& worker, size_t count) {
  std::vector<nn::PolicyRecord> records(count);
  for (auto& r : records) r.loss = 1.0;
  worker.report(records);
  std::optional<std::pair<uint64_t, std::vector<float>>> update;
  for (int i = 0; i < 300 && !(update = worker.newer_policy(0)); ++i)
    std::this_thread::sleep_for(10ms);
  return update;
}

TEST(Server, HostileConnectionsAreClosedAndRealWorkersCarryOn) {
  RunningServer s;
  const uint16_t port = s.server->port();
  ClientOptions good{"127.0.0.1", port, kSecret, "hash", 0};
  CoordinatorClient worker(good);
  for (int i = 0; i < 200 && !worker.connected(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(worker.connected());

  // Random bytes; a huge declared length; a frame cut short (then silence); a wrong secret.
  Rng rng(5);
  std::string noise(256, '\0');
  for (char& c : noise) c = char(rng.below(256));
  EXPECT_TRUE(closed_after(port, noise));
  std::string huge = "HYMK";
  const std::string version{'\0', char(protocol::kVersion)};
  huge += version + std::string("\x7f\xff\xff\xff", 4);  // 2 GiB declared
  EXPECT_TRUE(closed_after(port, huge));
  EXPECT_TRUE(closed_after(port, "HYMK" + version + std::string("\x00\x00\x00\x40", 4) + "abc"));
  ClientOptions intruder = good;
  intruder.secret = "not-the-secret-at-all!";
  intruder.rank = 1;
  {
    CoordinatorClient bad(intruder);
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(bad.connected());
  }
  ClientOptions other_config = good;
  other_config.config_hash = "another";
  other_config.rank = 2;
  {
    CoordinatorClient bad(other_config);
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(bad.connected());
  }
  const ServerCounters c = s.counters();
  EXPECT_GE(c.bad_frames, 2u);
  EXPECT_GE(c.refused, 2u);
  EXPECT_GE(c.timed_out, 1u);  // the cut frame never completed the handshake

  // The real worker still gets policy updates for its rewards.
  const auto update = policy_after_rewards(worker, 8);
  ASSERT_TRUE(update.has_value());
  EXPECT_EQ(update->first, 1u);
  EXPECT_EQ(update->second.size(), s.trainer.policy().parameters().size());
}

// A raw protocol client: the handshake step by step, to misbehave at any point of it.
struct RawPeer {
  asio::io_context io;
  asio::ip::tcp::socket socket{io};
  protocol::FrameDecoder decoder;
  explicit RawPeer(uint16_t port) { socket.connect({asio::ip::make_address("127.0.0.1"), port}); }
  void send(const control::Envelope& message) {
    asio::write(socket, asio::buffer(protocol::encode_frame(message)));
  }
  // The next message, or nullopt when the server closed the connection.
  std::optional<control::Envelope> receive() {
    std::array<char, 4096> buffer{};
    for (;;) {
      if (auto message = decoder.next()) return message;
      boost::system::error_code ec;
      const size_t n = socket.read_some(asio::buffer(buffer), ec);
      if (ec) return std::nullopt;
      decoder.feed(buffer.data(), n);
    }
  }
  // Hello with this nonce; returns the server's challenge nonce.
  std::string hello(const std::string& client_nonce, int rank) {
    control::Envelope hello;
    hello.mutable_hello()->set_protocol_version(protocol::kVersion);
    hello.mutable_hello()->set_rank(rank);
    hello.mutable_hello()->set_client_nonce(client_nonce);
    send(hello);
    const auto challenge = receive();
    return challenge && challenge->has_challenge() ? challenge->challenge().server_nonce() : "";
  }
  std::optional<control::Envelope> authenticate(const std::string& mac) {
    control::Envelope a;
    a.mutable_authenticate()->set_mac(mac);
    a.mutable_authenticate()->set_config_hash("hash");
    send(a);
    return receive();
  }
};

TEST(Server, ReplaysFloodsAndSlowSendersAreRefusedWhileWorkersCarryOn) {
  RunningServer s;
  const uint16_t port = s.server->port();
  CoordinatorClient worker({"127.0.0.1", port, kSecret, "hash", 0});
  for (int i = 0; i < 200 && !worker.connected(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(worker.connected());
  const protocol::Authenticator auth(kSecret);

  // Replay: a MAC that opened one session does not open another (fresh server nonce each time).
  const std::string client_nonce = protocol::random_nonce();
  std::string recorded;
  {
    RawPeer first(port);
    const std::string server_nonce = first.hello(client_nonce, 5);
    ASSERT_EQ(server_nonce.size(), protocol::kNonceSize);
    recorded = auth.mac("worker", server_nonce, client_nonce, 5, "hash");
    const auto welcome = first.authenticate(recorded);
    ASSERT_TRUE(welcome && welcome->has_welcome()) << "the genuine handshake must succeed";
  }
  {
    RawPeer replay(port);
    const std::string server_nonce = replay.hello(client_nonce, 5);
    ASSERT_FALSE(server_nonce.empty());
    const auto answer = replay.authenticate(recorded);
    EXPECT_FALSE(answer && answer->has_welcome()) << "a replayed MAC was accepted";
  }

  // A flood of 200 idle connections, and a slow sender trickling a Hello one byte at a time:
  // both end at the handshake timeout (1 s here), the flood without starving the worker.
  asio::io_context io;  // before the sockets: they must go first
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> flood;
  for (int i = 0; i < 200; ++i) {
    flood.push_back(std::make_unique<asio::ip::tcp::socket>(io));
    flood.back()->connect({asio::ip::make_address("127.0.0.1"), port});
  }
  control::Envelope hello;
  hello.mutable_hello()->set_protocol_version(protocol::kVersion);
  hello.mutable_hello()->set_client_nonce(protocol::random_nonce());
  const std::string trickle = protocol::encode_frame(hello);
  RawPeer slow(port);
  const auto start = std::chrono::steady_clock::now();
  bool slow_closed = false;
  for (char byte : trickle) {
    boost::system::error_code ec;
    asio::write(slow.socket, asio::buffer(&byte, 1), ec);
    if (ec) {
      slow_closed = true;
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  if (!slow_closed) slow_closed = !slow.receive().has_value();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(slow_closed);
  EXPECT_LT(seconds, 6.0) << "a slow sender held its connection open";

  // The flood is gone: every idle connection was closed by the server.
  size_t closed = 0;
  for (auto& socket : flood) {
    socket->non_blocking(true);
    std::array<char, 16> buffer{};
    boost::system::error_code ec;
    socket->read_some(asio::buffer(buffer), ec);
    closed += ec && ec != asio::error::would_block;
  }
  EXPECT_EQ(closed, flood.size());
  EXPECT_GE(s.counters().timed_out, 200u);

  // The real worker still gets policy updates for its rewards.
  EXPECT_TRUE(policy_after_rewards(worker, 8).has_value());
}

// A TCP relay that keeps a copy of every byte it passes either way (an eavesdropper on the path).
class Wiretap {
 public:
  explicit Wiretap(uint16_t upstream) : upstream_(upstream) {
    thread_ = std::thread([this] {
      asio::ip::tcp::socket client = acceptor_.accept();
      asio::ip::tcp::socket server(io_);
      server.connect({asio::ip::make_address("127.0.0.1"), upstream_});
      std::thread back([&] { pump(server, client); });
      pump(client, server);
      back.join();
    });
  }
  ~Wiretap() { thread_.join(); }  // after the client has gone
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string seen() {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }

 private:
  void pump(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to) {
    std::array<char, 4096> buffer{};
    boost::system::error_code ec;
    for (size_t n; (n = from.read_some(asio::buffer(buffer), ec)) > 0 && !ec;) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        seen_.append(buffer.data(), n);
      }
      if (asio::write(to, asio::buffer(buffer.data(), n), ec); ec) break;
    }
    to.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_{io_, {asio::ip::make_address("127.0.0.1"), 0}};
  uint16_t upstream_;
  std::mutex mutex_;
  std::string seen_;
  std::thread thread_;
};

protocol::TlsOptions tls_files(const std::filesystem::path& dir) {
  return {true, (dir / "coordinator.pem").string(), (dir / "coordinator.key").string(), ""};
}

bool connects_within(CoordinatorClient& worker, std::chrono::milliseconds limit) {
  for (auto waited = 0ms; waited < limit && !worker.connected(); waited += 10ms)
    std::this_thread::sleep_for(10ms);
  return worker.connected();
}

// With coordinator.tls a worker trains as before, and an eavesdropper sees neither the frames nor
// the config hash that it sees in clear without TLS.
TEST(Tls, WorkersTrainOverTlsAndAnEavesdropperSeesNoFrames) {
  testing::TempDir dir;
  testing::make_tls_certificate(dir.path(), "127.0.0.1");
  const std::string hash = "config-hash-in-the-clear";
  for (const bool encrypted : {false, true}) {
    const protocol::TlsOptions tls = encrypted ? tls_files(dir.path()) : protocol::TlsOptions{};
    RunningServer s(4, hash, 0, "", tls);
    Wiretap tap(s.server->port());
    {
      ClientOptions options{"127.0.0.1", tap.port(), kSecret, hash, 0};
      options.tls = tls;
      options.tls.private_key.clear();  // workers never need the coordinator's key
      CoordinatorClient worker(options);
      ASSERT_TRUE(connects_within(worker, 3s)) << "encrypted: " << encrypted;
      ASSERT_TRUE(policy_after_rewards(worker, 4).has_value()) << "encrypted: " << encrypted;
    }
    const std::string seen = tap.seen();
    EXPECT_GT(seen.size(), 1000u);  // the handshake, the rewards and two policies went through
    EXPECT_EQ(seen.find("HYMK") == std::string::npos, encrypted);
    EXPECT_EQ(seen.find(hash) == std::string::npos, encrypted);
  }
}

// A TLS coordinator refuses plain peers; a worker refuses a coordinator whose certificate it does
// not trust or that names another host; the real worker is served throughout.
TEST(Tls, PlainPeersAndUntrustedCoordinatorsAreRefused) {
  testing::TempDir dir;
  testing::make_tls_certificate(dir.path() / "run", "127.0.0.1");
  testing::make_tls_certificate(dir.path() / "other", "127.0.0.1");
  testing::make_tls_certificate(dir.path() / "elsewhere", "coordinator.example");
  RunningServer s(4, "hash", 0, "", tls_files(dir.path() / "run"));
  ClientOptions good{"127.0.0.1", s.server->port(), kSecret, "hash", 0};
  good.tls = tls_files(dir.path() / "run");
  CoordinatorClient worker(good);
  ASSERT_TRUE(connects_within(worker, 3s));

  ClientOptions plain = good;
  plain.rank = 1;
  plain.tls = {};
  {
    CoordinatorClient bad(plain);
    EXPECT_FALSE(connects_within(bad, 500ms)) << "a plain-TCP worker got in";
  }
  ClientOptions untrusting = good;
  untrusting.rank = 2;
  untrusting.tls.trusted = (dir.path() / "other" / "coordinator.pem").string();
  {
    CoordinatorClient bad(untrusting);
    EXPECT_FALSE(connects_within(bad, 500ms)) << "a certificate the worker does not trust passed";
  }
  EXPECT_GE(s.counters().refused, 2u);

  // The right certificate authority, but a certificate for another host: a worker refuses it.
  RunningServer impostor(4, "hash", 0, "", tls_files(dir.path() / "elsewhere"));
  ClientOptions misdirected = good;
  misdirected.port = impostor.server->port();
  misdirected.tls.trusted = (dir.path() / "elsewhere" / "coordinator.pem").string();
  {
    CoordinatorClient bad(misdirected);
    EXPECT_FALSE(connects_within(bad, 500ms)) << "a certificate naming another host passed";
  }
  misdirected.host = "localhost";  // the check is the host name, not the certificate
  misdirected.tls.trusted = (dir.path() / "run" / "coordinator.pem").string();
  misdirected.port = s.server->port();
  {
    CoordinatorClient bad(misdirected);
    EXPECT_FALSE(connects_within(bad, 500ms)) << "127.0.0.1's certificate passed for localhost";
  }

  EXPECT_TRUE(policy_after_rewards(worker, 4).has_value());
  EXPECT_TRUE(worker.connected());
}

TEST(Coordinator, RestartsFromItsCheckpointAndWorkersReconnect) {
  testing::TempDir dir;
  const std::string state = (dir.path() / "coordinator.pt").string();
  uint16_t port = 0;
  auto server = std::make_unique<RunningServer>(4, "hash", 0, state);
  port = server->server->port();
  ClientOptions options{"127.0.0.1", port, kSecret, "hash", 0};
  options.max_backoff = 200ms;
  CoordinatorClient worker(options);
  auto send_rewards = [&](uint64_t version) {
    std::vector<nn::PolicyRecord> records(4);
    for (auto& r : records) r.version = version, r.loss = 2.0;
    worker.report(records);
  };
  for (int i = 0; i < 200 && !worker.connected(); ++i) std::this_thread::sleep_for(10ms);
  for (uint64_t v = 0; v < 3; ++v) {
    send_rewards(v);
    for (int i = 0; i < 200 && !worker.newer_policy(v); ++i) std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(worker.newer_policy(0)->first, 3u);
  const std::vector<float> before = server->trainer.policy().parameters();
  server.reset();  // the coordinator goes away (a crash, a requeue)...
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(worker.connected());
  server = std::make_unique<RunningServer>(4, "hash", port, state);  // ...and comes back
  EXPECT_EQ(server->trainer.version(), 3u);
  EXPECT_EQ(server->trainer.policy().parameters(), before);
  for (int i = 0; i < 300 && !worker.connected(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(worker.connected()) << "the worker did not reconnect";
  send_rewards(3);
  for (int i = 0; i < 200 && !worker.newer_policy(3); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(worker.newer_policy(3).has_value());
  EXPECT_EQ(worker.newer_policy(3)->first, 4u);
}

std::string http_request(uint16_t port, const std::string& method, const std::string& target,
                         const std::string& headers = "") {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(socket, asio::buffer(method + " " + target + " HTTP/1.1\r\nHost: test\r\n" + headers +
                                   "\r\n"));
  std::string response;
  boost::system::error_code ec;
  std::array<char, 4096> buffer{};
  for (size_t n; (n = socket.read_some(asio::buffer(buffer), ec)) > 0 || !ec;)
    response.append(buffer.data(), n);
  return response;
}

std::string http_get(uint16_t port, const std::string& target) {
  return http_request(port, "GET", target);
}

TEST(Console, ServesStatusMetricsAndTheDashboard) {
  RunningServer s;
  ClientOptions good{"127.0.0.1", s.server->port(), kSecret, "hash", 3};
  CoordinatorClient worker(good);
  for (int i = 0; i < 200 && !worker.connected(); ++i) std::this_thread::sleep_for(10ms);
  worker.statistics(42, 123.0, 4.5, 0.0);
  std::this_thread::sleep_for(100ms);
  std::unique_ptr<Console> console;
  asio::post(s.io, [&] {
    console = std::make_unique<Console>(s.io, "127.0.0.1", 0, *s.server, s.trainer, "op-token");
  });
  for (int i = 0; i < 100 && !console; ++i) std::this_thread::sleep_for(10ms);
  const uint16_t port = console->port();
  const std::string status = http_get(port, "/status");
  const auto json = nlohmann::json::parse(status.substr(status.find("\r\n\r\n") + 4));
  ASSERT_EQ(json["workers"].size(), 1u);
  EXPECT_EQ(json["workers"][0]["rank"], 3);
  EXPECT_EQ(json["workers"][0]["step"], 42);
  EXPECT_EQ(json["workers"][0]["state"], "connected");
  EXPECT_EQ(json["policy"]["k"].size(), 5u);  // k in 2..6
  EXPECT_EQ(json["policy"]["k_min"], 2);
  EXPECT_EQ(json["run_id"], "");
  const std::string metrics = http_get(port, "/metrics");
  EXPECT_NE(metrics.find("hymask_worker_step{worker=\"3\"} 42"), std::string::npos) << metrics;
  EXPECT_NE(http_get(port, "/").find("<title>hymask coordinator</title>"), std::string::npos);
  EXPECT_NE(http_get(port, "/secret").find("404"), std::string::npos);

  // Control needs the token; commands reach the worker.
  EXPECT_NE(http_request(port, "POST", "/control/pause").find("401"), std::string::npos);
  EXPECT_NE(
      http_request(port, "POST", "/control/pause", "Authorization: Bearer nope\r\n").find("401"),
      std::string::npos);
  const std::string ok = "Authorization: Bearer op-token\r\n";
  EXPECT_NE(http_request(port, "POST", "/control/pause", ok).find("200 OK"), std::string::npos);
  for (int i = 0; i < 100 && !worker.paused(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(worker.paused());
  http_request(port, "POST", "/control/resume", ok);
  http_request(port, "POST", "/control/stop", ok);
  for (int i = 0; i < 100 && worker.paused(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(worker.paused());
  bool stopped = false;
  for (int i = 0; i < 100 && !(stopped = worker.take_stop()); ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(stopped);
  EXPECT_NE(http_request(port, "POST", "/control/explode", ok).find("404"), std::string::npos);
  asio::post(s.io, [&] { console.reset(); });
  std::this_thread::sleep_for(50ms);
}

// A tiny adaptive run on synthetic faces, for the trainer wired to a coordinator.
std::vector<std::string> tiny_adaptive(int epochs, int log_every) {
  return {"mask.method=adaptive",
          "data.synthetic_identities=6",
          "data.synthetic_images_per_identity=8",
          "data.image_size=32",
          "train.batch_size=8",
          "train.epochs=" + std::to_string(epochs),
          "train.threads=1",
          "model.embedding=32",
          "model.scale=16",
          "model.margin=0.2",
          "policy.update_every=2",
          "train.log_every=" + std::to_string(log_every),
          "train.checkpoint_every=0"};
}

TEST(Coordinator, WorkersTrainWithTheCentralPolicy) {
  ::setenv("HYMASK_SECRET", kSecret, 1);
  const std::vector<std::string> args = tiny_adaptive(12, 6);
  Config config = load_config("", args);
  RunningServer s(4, protocol::config_hash(experiment_yaml(config)));
  config.coordinator.address = "127.0.0.1:" + std::to_string(s.server->port());
  testing::TempDir dir;
  {
    Trainer trainer(config, dir.path(), false);
    std::this_thread::sleep_for(300ms);  // let it connect: updates then flow during training
    trainer.run();
  }
  ::unsetenv("HYMASK_SECRET");
  EXPECT_GE(s.trainer.version(), 3u) << "the coordinator trained the policy";
  std::ifstream metrics(dir.path() / "metrics.jsonl");
  std::vector<double> losses;
  std::vector<std::vector<double>> k_probabilities;
  uint64_t adopted = 0;
  for (std::string line; std::getline(metrics, line);) {
    const auto r = nlohmann::json::parse(line);
    losses.push_back(r["loss"].get<double>());
    k_probabilities.push_back(r["policy"]["k"].get<std::vector<double>>());
    adopted = std::max<uint64_t>(adopted, r["policy"]["version"].get<uint64_t>());
  }
  EXPECT_GE(adopted, 1u) << "the worker adopted central policy versions";
  ASSERT_GE(losses.size(), 4u);
  // The policy maximises the FR loss (harder mixing as the model learns), so the loss need not
  // fall here; what must hold is that training stays finite and the worker samples from the
  // policy the coordinator trains: its distribution over k moves away from where it started.
  for (double loss : losses) EXPECT_TRUE(std::isfinite(loss));
  double moved = 0;
  for (size_t i = 0; i < k_probabilities.front().size(); ++i)
    moved += std::abs(k_probabilities.back()[i] - k_probabilities.front()[i]);
  EXPECT_GT(moved, 0.05) << "the worker's policy over k did not change";
}

// One live connection per rank: a second process claiming a connected rank is refused for good
// (and says why), while the same process reconnecting is let in.
TEST(Server, ASecondProcessForAConnectedRankIsRefused) {
  RunningServer s;
  const uint16_t port = s.server->port();
  CoordinatorClient first({"127.0.0.1", port, kSecret, "hash", 3});
  for (int i = 0; i < 200 && !first.connected(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(first.connected());
  CoordinatorClient second({"127.0.0.1", port, kSecret, "hash", 3});
  for (int i = 0; i < 200 && !second.refusal(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(second.refusal().has_value());
  EXPECT_NE(second.refusal()->find("rank 3 is already connected"), std::string::npos)
      << *second.refusal();
  EXPECT_FALSE(second.connected());
  EXPECT_TRUE(first.connected());
  EXPECT_FALSE(first.refusal().has_value());
  EXPECT_TRUE(policy_after_rewards(first, 8).has_value());
}

// A worker whose coordinator refuses it, or stays unreachable past coordinator.give_up_s, ends
// the run with the reason and a checkpoint, instead of training on with an unchanging policy.
TEST(Coordinator, AWorkerWithoutAPolicySourceEndsTheRunWithTheReason) {
  ::setenv("HYMASK_SECRET", kSecret, 1);
  std::vector<std::string> args = tiny_adaptive(400, 50);
  args.push_back("coordinator.give_up_s=0.5");
  Config config = load_config("", args);
  RunningServer s(4, "another config's hash");
  for (const uint16_t port : {s.server->port(), uint16_t(1)}) {  // refused; nobody listening
    config.coordinator.address = "127.0.0.1:" + std::to_string(port);
    testing::TempDir dir;
    try {
      Trainer(config, dir.path(), false).run();
      ADD_FAILURE() << "trained to the end without a coordinator on port " << port;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(port == 1 ? "unreachable for" : "refused: config"), std::string::npos)
          << what;
      EXPECT_NE(what.find("continue with --resume"), std::string::npos) << what;
    }
    EXPECT_TRUE(std::filesystem::exists(checkpoint_path(dir.path())));
  }
  ::unsetenv("HYMASK_SECRET");
}

}  // namespace
}  // namespace hymask::coordinator
