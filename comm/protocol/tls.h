// TLS for the control plane (optional, coordinator.tls): the coordinator presents a certificate,
// each worker checks it against its trusted certificates and the coordinator's host name before
// it says anything. Authentication of the workers stays the HMAC handshake on the shared secret;
// TLS adds confidentiality and integrity of what follows (rewards, statistics, policies).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "core/config.h"

namespace hymask::protocol {

struct TlsOptions {
  bool enabled = false;
  std::string certificate;  // PEM chain the coordinator presents
  std::string private_key;  // PEM key of that certificate (coordinator only)
  std::string trusted;      // PEM certificates a worker trusts; empty: `certificate` itself
};

TlsOptions tls_options(const Config& config);

// Contexts for either side, TLS 1.2 or newer. Throw ConfigError naming the file and the fix when
// a file is missing, unreadable, not PEM, or (for the key) readable by other users.
boost::asio::ssl::context server_tls_context(const TlsOptions& options);
boost::asio::ssl::context client_tls_context(const TlsOptions& options);

}  // namespace hymask::protocol
