#include "comm/protocol/tls.h"

#include <filesystem>

#include "core/error.h"
#include "core/files.h"

namespace hymask::protocol {

namespace ssl = boost::asio::ssl;

namespace {

void require_readable(const std::string& path, const std::string& key) {
  if (path.empty())
    throw ConfigError("coordinator.tls is on but " + key +
                      " is empty (cluster/launch.sh --tls makes a certificate for the run)");
  if (!std::filesystem::is_regular_file(path)) throw ConfigError(key + ": no such file " + path);
}

ssl::context base_context(ssl::context::method method) {
  ssl::context context(method);
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                      ssl::context::no_compression);
  return context;
}

template <typename Load>
void load(const std::string& path, const std::string& key, Load&& load_file) {
  boost::system::error_code ec;
  load_file(ec);
  if (ec)
    throw ConfigError(key + ": cannot use " + path + ": " + ec.message() +
                      " (expected a PEM file)");
}

}  // namespace

TlsOptions tls_options(const Config& config) {
  TlsOptions o;
  o.enabled = config.coordinator.tls;
  o.certificate = config.coordinator.tls_certificate;
  o.private_key = config.coordinator.tls_private_key;
  o.trusted = config.coordinator.tls_trusted;
  return o;
}

ssl::context server_tls_context(const TlsOptions& options) {
  require_readable(options.certificate, "coordinator.tls_certificate");
  require_readable(options.private_key, "coordinator.tls_private_key");
  if (shared_with_others(options.private_key))
    throw ConfigError("the TLS private key " + options.private_key +
                      " is readable by other users: chmod 600 it");
  ssl::context context = base_context(ssl::context::tls_server);
  // The key first: a certificate that does not match it then fails the check below by name.
  load(options.private_key, "coordinator.tls_private_key",
       [&](auto& ec) { context.use_private_key_file(options.private_key, ssl::context::pem, ec); });
  load(options.certificate, "coordinator.tls_certificate",
       [&](auto& ec) { context.use_certificate_chain_file(options.certificate, ec); });
  if (SSL_CTX_check_private_key(context.native_handle()) != 1)
    throw ConfigError("coordinator.tls_private_key " + options.private_key +
                      " does not belong to the certificate " + options.certificate);
  return context;
}

ssl::context client_tls_context(const TlsOptions& options) {
  const std::string& trusted = options.trusted.empty() ? options.certificate : options.trusted;
  const std::string key =
      options.trusted.empty() ? "coordinator.tls_certificate" : "coordinator.tls_trusted";
  require_readable(trusted, key);
  ssl::context context = base_context(ssl::context::tls_client);
  load(trusted, key, [&](auto& ec) { context.load_verify_file(trusted, ec); });
  context.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  return context;
}

}  // namespace hymask::protocol
