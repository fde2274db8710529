// The fuzz targets: one function per untrusted-input parser, shared by the libFuzzer binaries
// (scripts/fuzz.sh, clang with ASan/UBSan) and by the regression test that replays every kept
// input under the normal build (FuzzRegressions in tests/fuzz_regression_test.cpp). Each must
// either accept the input or reject it with the parser's documented error; anything else (a
// crash, a sanitizer report, another exception type) is a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "comm/protocol/frame.h"
#include "core/config.h"
#include "core/error.h"
#include "core/image.h"

namespace hymask::fuzz {

// Bytes from the network, fed in two chunks (the split point from the first byte), then every
// whole message taken out: ProtocolError is the only allowed failure.
inline void frame_decoder(const uint8_t* data, size_t size) {
  protocol::FrameDecoder decoder(1u << 16);
  const size_t split = size > 0 ? data[0] % (size + 1) : 0;
  try {
    decoder.feed(data, split);
    while (decoder.next()) {
    }
    decoder.feed(data + split, size - split);
    while (decoder.next()) {
    }
  } catch (const protocol::ProtocolError&) {
  }
}

// A config file's text: ConfigError is the only allowed failure.
inline void config_parser(const uint8_t* data, size_t size) {
  try {
    config_from_yaml(std::string(reinterpret_cast<const char*>(data), size), "<fuzz>");
  } catch (const ConfigError&) {
  }
}

// An image file's bytes: DataError is the only allowed failure.
inline void image_decoder(const uint8_t* data, size_t size) {
  try {
    const Image image = decode_image(std::vector<uint8_t>(data, data + size), "<fuzz>");
    (void)image;
  } catch (const DataError&) {
  }
}

}  // namespace hymask::fuzz
