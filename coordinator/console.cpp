#include "coordinator/console.h"

#include <spdlog/spdlog.h>

#include <openssl/crypto.h>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <map>
#include <sstream>

namespace hymask::coordinator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr size_t kHistory = 600;  // ten minutes of one-second points

std::array<float, nn::kStateSize> neutral_state() {
  // Mid-training, average loss statistics: the distribution shown on the console.
  return {0.5f, 1.0f, 0.1f, 0.0f, 1.0f, 1.0f};
}

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, Console& console)
      : stream_(std::move(socket)), console_(console) {}

  void start() {
    parser_.header_limit(8 * 1024);
    parser_.body_limit(0);
    stream_.expires_after(std::chrono::seconds(10));
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->respond();
                     });
  }

 private:
  void respond() {
    const auto& request = parser_.get();
    auto response = std::make_shared<http::response<http::string_body>>();
    response->version(request.version());
    response->keep_alive(false);
    response->set(http::field::server, "hymask-coordinator");
    response->set(http::field::cache_control, "no-store");
    const std::string target(request.target());
    if (request.method() == http::verb::post && target.rfind("/control/", 0) == 0) {
      const auto [code, text] =
          console_.control(target.substr(9), std::string(request[http::field::authorization]));
      response->result(http::status(code));
      response->body() = text + "\n";
    } else if (request.method() != http::verb::get) {
      response->result(http::status::method_not_allowed);
      response->body() = "GET /, /status, /metrics; POST /control/<action>\n";
    } else if (target == "/status") {
      response->set(http::field::content_type, "application/json");
      response->body() = console_.status().dump();
    } else if (target == "/metrics") {
      response->set(http::field::content_type, "text/plain; version=0.0.4");
      response->body() = console_.metrics();
    } else if (target == "/" || target == "/index.html") {
      response->set(http::field::content_type, "text/html; charset=utf-8");
      response->body() = kDashboardHtml;
    } else {
      response->result(http::status::not_found);
      response->body() = "not found: try /, /status or /metrics\n";
    }
    response->prepare_payload();
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code, size_t) {
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request_parser<http::empty_body> parser_;
  Console& console_;
};

}  // namespace

Console::Console(asio::io_context& io, const std::string& address, uint16_t port, Server& server,
                 PolicyTrainer& trainer, std::string token, std::string run_id)
    : io_(io),
      server_(server),
      trainer_(trainer),
      acceptor_(io),
      timer_(io),
      token_(std::move(token)),
      run_id_(std::move(run_id)) {
  const tcp::endpoint endpoint(asio::ip::make_address(address), port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  boost::system::error_code ec;
  acceptor_.bind(endpoint, ec);
  if (ec)
    throw Error("cannot serve the console on " + address + ":" + std::to_string(port) + ": " +
                ec.message());
  acceptor_.listen();
  accept();
  sample();
}

uint16_t Console::port() const {
  return acceptor_.local_endpoint().port();
}

void Console::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<HttpSession>(std::move(socket), *this)->start();
    accept();
  });
}

std::pair<int, std::string> Console::control(const std::string& action,
                                             const std::string& authorization) {
  if (token_.empty())
    return {403, "control is disabled: start the coordinator with HYMASK_CONSOLE_TOKEN set"};
  const std::string expected = "Bearer " + token_;
  if (authorization.size() != expected.size() ||
      CRYPTO_memcmp(authorization.data(), expected.data(), expected.size()) != 0)
    return {401, "wrong or missing token (Authorization: Bearer TOKEN)"};
  static const std::map<std::string, control::Command::Kind> kActions = {
      {"pause", control::Command::PAUSE},
      {"resume", control::Command::RESUME},
      {"checkpoint", control::Command::CHECKPOINT},
      {"stop", control::Command::STOP}};
  const auto it = kActions.find(action);
  if (it == kActions.end()) return {404, "unknown action: pause, resume, checkpoint or stop"};
  server_.command(it->second);
  return {200, action + " sent to the workers"};
}

nlohmann::json Console::status() const {
  nlohmann::json workers = nlohmann::json::array();
  const auto now = std::chrono::steady_clock::now();
  for (const WorkerInfo& w : server_.workers())
    workers.push_back(
        {{"id", w.id},
         {"rank", w.rank},
         {"state", w.connected ? "connected" : "lost"},
         {"step", w.step},
         {"images_per_second", w.images_per_second},
         {"loss", w.loss},
         {"records", w.records},
         {"seconds_since_seen", std::chrono::duration<double>(now - w.last_seen).count()}});
  const auto p = trainer_.policy().probabilities(neutral_state());
  const ServerCounters& c = server_.counters();
  return {{"run_id", run_id_},
          {"policy",
           {{"version", trainer_.version()},
            {"baseline", trainer_.policy().baseline()},
            {"multiplier", trainer_.policy().multiplier()},
            {"k_min", trainer_.policy().options().k_min},
            {"records_used", trainer_.records_used()},
            {"dropped_stale", trainer_.dropped_stale()},
            {"k", p[0]},
            {"weights", p[1]},
            {"drop_level", p[2]}}},
          {"connections",
           {{"refused", c.refused},
            {"bad_frames", c.bad_frames},
            {"timed_out", c.timed_out},
            {"updates_sent", c.updates_sent}}},
          {"workers", workers},
          {"history", history_}};
}

std::string Console::metrics() const {
  std::ostringstream out;
  const ServerCounters& c = server_.counters();
  out << "# HELP hymask_policy_version Current masking policy version.\n"
         "# TYPE hymask_policy_version gauge\n"
      << "hymask_policy_version " << trainer_.version() << "\n"
      << "# HELP hymask_reward_records_total Reward records used by policy updates.\n"
         "# TYPE hymask_reward_records_total counter\n"
      << "hymask_reward_records_total " << trainer_.records_used() << "\n"
      << "# HELP hymask_connections_refused_total Connections refused (authentication, config).\n"
         "# TYPE hymask_connections_refused_total counter\n"
      << "hymask_connections_refused_total " << c.refused << "\n"
      << "# HELP hymask_bad_frames_total Connections closed for a protocol error.\n"
         "# TYPE hymask_bad_frames_total counter\n"
      << "hymask_bad_frames_total " << c.bad_frames << "\n";
  out << "# HELP hymask_worker_step Training step of each worker.\n# TYPE hymask_worker_step "
         "gauge\n";
  for (const WorkerInfo& w : server_.workers())
    out << "hymask_worker_step{worker=\"" << w.id << "\"} " << w.step << "\n";
  out << "# HELP hymask_worker_loss Last reported FR loss.\n# TYPE hymask_worker_loss gauge\n";
  for (const WorkerInfo& w : server_.workers())
    out << "hymask_worker_loss{worker=\"" << w.id << "\"} " << w.loss << "\n";
  out << "# HELP hymask_worker_images_per_second Last reported throughput.\n"
         "# TYPE hymask_worker_images_per_second gauge\n";
  for (const WorkerInfo& w : server_.workers())
    out << "hymask_worker_images_per_second{worker=\"" << w.id << "\"} " << w.images_per_second
        << "\n";
  out << "# HELP hymask_worker_up 1 while the worker is connected.\n# TYPE hymask_worker_up "
         "gauge\n";
  for (const WorkerInfo& w : server_.workers())
    out << "hymask_worker_up{worker=\"" << w.id << "\"} " << (w.connected ? 1 : 0) << "\n";
  return out.str();
}

void Console::sample() {
  double loss = 0, throughput = 0;
  int reporting = 0;
  for (const WorkerInfo& w : server_.workers())
    if (w.connected) {
      loss += w.loss;
      throughput += w.images_per_second;
      ++reporting;
    }
  const auto p = trainer_.policy().probabilities(neutral_state());
  history_.push_back(
      {{"t",
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()},
       {"loss", reporting ? loss / reporting : 0.0},
       {"images_per_second", throughput},
       {"baseline", trainer_.policy().baseline()},
       {"version", trainer_.version()},
       {"k", p[0]}});
  if (history_.size() > kHistory) history_.pop_front();
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sample();
  });
}

}  // namespace hymask::coordinator
