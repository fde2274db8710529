// Authentication of the control protocol: an HMAC-SHA256 challenge-response on a shared secret
// (see control.proto for the exchange). The secret comes from a file or the environment, never
// from the command line (where `ps` shows it), and never crosses the wire.
#pragma once

#include <cstdint>
#include <string>

namespace hymask::protocol {

constexpr size_t kNonceSize = 32;

// Cryptographically random bytes (OpenSSL's RAND_bytes).
std::string random_nonce();

// The secret: the contents of `path` if given, else of the file $HYMASK_SECRET_FILE, else
// $HYMASK_SECRET. Throws ConfigError when there is none, or it is shorter than 16 bytes.
std::string load_secret(const std::string& path = "");

class Authenticator {
 public:
  explicit Authenticator(std::string secret);

  // MAC of one side ("worker" or "coordinator") over the handshake's values.
  std::string mac(const std::string& side, const std::string& server_nonce,
                  const std::string& client_nonce, int32_t rank,
                  const std::string& config_hash) const;
  // Constant-time comparison with the MAC it should be.
  bool verify(const std::string& received, const std::string& side, const std::string& server_nonce,
              const std::string& client_nonce, int32_t rank, const std::string& config_hash) const;

 private:
  std::string secret_;
};

// SHA-256 of a resolved config: a worker whose config differs is refused.
std::string config_hash(const std::string& resolved_config);

}  // namespace hymask::protocol
