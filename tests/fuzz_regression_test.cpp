// Replays every fuzzing input kept in the repository (tests/fuzz/corpus: the seeds;
// tests/fuzz/regressions: inputs that once crashed a parser) through the fuzz targets, in the
// normal build: each must be accepted or rejected with the parser's own error, and quickly (some
// were kept because they made a parser allocate and fill gigabytes for a few bytes of input).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/fuzz/fuzz_targets.h"

namespace hymask {
namespace {
namespace fs = std::filesystem;

size_t replay(const std::string& target, void (*parse)(const uint8_t*, size_t)) {
  size_t count = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(HYMASK_SOURCE_DIR) / "tests/fuzz" / kind / target;
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                       std::istreambuf_iterator<char>());
      SCOPED_TRACE(entry.path().string());
      const auto start = std::chrono::steady_clock::now();
      EXPECT_NO_THROW(parse(bytes.data(), bytes.size()));
      EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                1.0);
      ++count;
    }
  }
  return count;
}

TEST(FuzzRegressions, FrameDecoder) {
  EXPECT_GE(replay("frame", fuzz::frame_decoder), 4u);
}
TEST(FuzzRegressions, ConfigParser) {
  EXPECT_GE(replay("config", fuzz::config_parser), 3u);
}
TEST(FuzzRegressions, ImageDecoder) {
  EXPECT_GE(replay("image", fuzz::image_decoder), 3u);
}
TEST(FuzzRegressions, RecordIoReader) {
  EXPECT_GE(replay("recordio", fuzz::recordio_reader), 3u);
}
TEST(FuzzRegressions, VerificationBin) {
  EXPECT_GE(replay("verification", fuzz::verification_bin), 3u);
}

}  // namespace
}  // namespace hymask
