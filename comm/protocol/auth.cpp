#include "comm/protocol/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/environment.h"
#include "core/error.h"
#include "core/files.h"

namespace hymask::protocol {

std::string random_nonce() {
  std::string nonce(kNonceSize, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), int(nonce.size())) != 1)
    throw Error("the system random generator failed");
  return nonce;
}

std::string load_secret(const std::string& path) {
  std::string file = path;
  if (file.empty()) file = environment::get(environment::kSecretFile);
  std::string secret;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ConfigError("cannot read the secret file " + file);
    std::ostringstream content;
    content << in.rdbuf();
    secret = content.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (shared_with_others(file))
      throw ConfigError("the secret file " + file + " is readable by others: chmod 600 it");
  } else if (!environment::get(environment::kSecret).empty()) {
    secret = environment::get(environment::kSecret);
  } else {
    throw ConfigError(
        "no shared secret: set HYMASK_SECRET_FILE to a file (chmod 600) holding at "
        "least 16 random bytes, e.g. `head -c 32 /dev/urandom | base64 > secret`");
  }
  if (secret.size() < 16)
    throw ConfigError("the shared secret is " + std::to_string(secret.size()) +
                      " bytes: use at least 16 random bytes");
  return secret;
}

Authenticator::Authenticator(std::string secret) : secret_(std::move(secret)) {}

std::string Authenticator::mac(const std::string& side, const std::string& server_nonce,
                               const std::string& client_nonce, int32_t rank,
                               const std::string& config_hash) const {
  // Length-prefixed fields: no two different handshakes give the same MAC input.
  std::string message;
  for (const std::string* field : {&side, &server_nonce, &client_nonce, &config_hash}) {
    const uint32_t n = uint32_t(field->size());
    for (int shift = 24; shift >= 0; shift -= 8) message += char((n >> shift) & 0xFF);
    message += *field;
  }
  for (int shift = 24; shift >= 0; shift -= 8) message += char((uint32_t(rank) >> shift) & 0xFF);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), secret_.data(), int(secret_.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &length))
    throw Error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<char*>(out), length);
}

bool Authenticator::verify(const std::string& received, const std::string& side,
                           const std::string& server_nonce, const std::string& client_nonce,
                           int32_t rank, const std::string& config_hash) const {
  const std::string expected = mac(side, server_nonce, client_nonce, rank, config_hash);
  return received.size() == expected.size() &&
         CRYPTO_memcmp(received.data(), expected.data(), expected.size()) == 0;
}

std::string config_hash(const std::string& resolved_config) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!EVP_Digest(resolved_config.data(), resolved_config.size(), out, &length, EVP_sha256(),
                  nullptr))
    throw Error("SHA-256 failed");
  return std::string(reinterpret_cast<char*>(out), length);
}

}  // namespace hymask::protocol
