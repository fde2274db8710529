// Framing of the control protocol: every message travels as
//   "HYMK" (4 bytes) | version (2 bytes, big-endian) | length (4 bytes, big-endian) | payload
// where the payload is a serialised control.Envelope. The length is checked against a limit
// before anything is allocated; a decoder that meets a bad frame throws ProtocolError and the
// connection is to be closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "comm/protocol/control.pb.h"
#include "core/error.h"

namespace hymask::protocol {

constexpr uint16_t kVersion = 2;  // 2: reward records carry measurements, not rewards
constexpr size_t kHeaderSize = 10;
constexpr uint32_t kDefaultMaxFrame = 16u << 20;

class ProtocolError : public Error {
 public:
  using Error::Error;
};

std::string encode_frame(const control::Envelope& message);

// "host:port" -> (host, port); throws ConfigError.
std::pair<std::string, uint16_t> parse_address(const std::string& address);

// Incremental decoder: feed the bytes as they arrive, take whole messages out.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame = kDefaultMaxFrame) : max_frame_(max_frame) {}

  void feed(const void* data, size_t size);
  // The next whole message, or nullopt until more bytes arrive. Throws ProtocolError for a bad
  // magic, an unsupported version, an oversized length or a payload that does not parse.
  std::optional<control::Envelope> next();
  size_t buffered() const { return buffer_.size() - offset_; }

 private:
  uint32_t max_frame_;
  std::vector<uint8_t> buffer_;
  size_t offset_ = 0;
};

}  // namespace hymask::protocol
