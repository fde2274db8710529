// The fuzz targets: one function per untrusted-input parser, shared by the libFuzzer binaries
// (scripts/fuzz.sh, clang with ASan/UBSan) and by the regression test that replays every kept
// input under the normal build (FuzzRegressions in tests/fuzz_regression_test.cpp). Each must
// either accept the input or reject it with the parser's documented error; anything else (a
// crash, a sanitizer report, another exception type) is a bug.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "comm/protocol/frame.h"
#include "core/config.h"
#include "core/error.h"
#include "core/image.h"
#include "core/recordio.h"
#include "core/verification_bin.h"

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

// An InsightFace RecordIO set: the first two bytes say how much of the rest is PREFIX.idx's text,
// the remainder is PREFIX.rec. Opened as a dataset and every image loaded: DataError is the only
// allowed failure.
inline void recordio_reader(const uint8_t* data, size_t size) {
  const size_t split = size >= 2 ? std::min<size_t>(size - 2, data[0] | size_t(data[1]) << 8) : 0;
  const uint8_t* body = data + std::min<size_t>(size, 2);
  const std::filesystem::path prefix = std::filesystem::temp_directory_path() /
                                       ("hymask-fuzz-recordio-" + std::to_string(::getpid()));
  std::ofstream(prefix.string() + ".idx", std::ios::binary)
      .write(reinterpret_cast<const char*>(body), std::streamsize(split));
  std::ofstream(prefix.string() + ".rec", std::ios::binary)
      .write(reinterpret_cast<const char*>(body + split),
             std::streamsize(size - std::min<size_t>(size, 2) - split));
  try {
    const auto set = RecordIoDataset::open(prefix, BadFilePolicy::kSkip);
    for (size_t i = 0; i < set->size(); ++i) {
      try {
        (void)set->load(i, true);
      } catch (const DataError&) {
      }
    }
  } catch (const DataError&) {
  }
}

// A verification .bin (a pickle of images and same-person flags): DataError is the only allowed
// failure; an accepted set's images are decoded.
inline void verification_bin(const uint8_t* data, size_t size) {
  try {
    const VerificationBin bin = parse_verification_bin(data, size, "<fuzz>");
    EncodedImageDataset set(bin.images, "<fuzz>");
    for (size_t i = 0; i < set.size(); ++i) {
      try {
        (void)set.load(i, true);
      } catch (const DataError&) {
      }
    }
  } catch (const DataError&) {
  }
}

}  // namespace hymask::fuzz
