#include "comm/protocol/frame.h"

#include <cstring>

namespace hymask::protocol {

std::string encode_frame(const control::Envelope& message) {
  const std::string payload = message.SerializeAsString();
  if (payload.size() > UINT32_MAX) throw ProtocolError("message too large to frame");
  const uint32_t length = uint32_t(payload.size());
  std::string frame = "HYMK";
  frame += char(kVersion >> 8);
  frame += char(kVersion & 0xFF);
  for (int shift = 24; shift >= 0; shift -= 8) frame += char((length >> shift) & 0xFF);
  return frame + payload;
}

std::pair<std::string, uint16_t> parse_address(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw ConfigError("address '" + address + "' must look like host:port, e.g. 127.0.0.1:7777");
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
  }
  if (port < 0 || port > 65535 || address.substr(colon + 1).empty())
    throw ConfigError("address '" + address + "' has no valid port");
  return {address.substr(0, colon), uint16_t(port)};
}

void FrameDecoder::feed(const void* data, size_t size) {
  if (offset_ > 0 && offset_ == buffer_.size()) {  // all consumed: start over
    buffer_.clear();
    offset_ = 0;
  }
  const auto* bytes = static_cast<const uint8_t*>(data);
  buffer_.insert(buffer_.end(), bytes, bytes + size);
}

std::optional<control::Envelope> FrameDecoder::next() {
  if (buffered() < kHeaderSize) {
    // Reject a wrong magic as soon as its bytes are in, not only once a header is complete.
    if (buffered() > 0 &&
        std::memcmp(buffer_.data() + offset_, "HYMK", std::min<size_t>(4, buffered())) != 0)
      throw ProtocolError("not a hymask frame (bad magic)");
    return std::nullopt;
  }
  const uint8_t* h = buffer_.data() + offset_;
  if (std::memcmp(h, "HYMK", 4) != 0) throw ProtocolError("not a hymask frame (bad magic)");
  const uint16_t version = uint16_t(h[4] << 8 | h[5]);
  if (version != kVersion)
    throw ProtocolError("unsupported protocol version " + std::to_string(version) +
                        " (this build speaks " + std::to_string(kVersion) + ")");
  const uint32_t length = uint32_t(h[6]) << 24 | uint32_t(h[7]) << 16 | uint32_t(h[8]) << 8 | h[9];
  if (length > max_frame_)
    throw ProtocolError("frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                        std::to_string(max_frame_));
  if (buffered() < kHeaderSize + length) return std::nullopt;
  control::Envelope message;
  if (!message.ParseFromArray(h + kHeaderSize, int(length)) ||
      message.body_case() == control::Envelope::BODY_NOT_SET)
    throw ProtocolError("malformed message in a frame of " + std::to_string(length) + " bytes");
  offset_ += kHeaderSize + length;
  return message;
}

}  // namespace hymask::protocol
