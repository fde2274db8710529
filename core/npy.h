// NumPy .npy files (format version 1.0), written atomically, so that the protected samples can be
// read by independent tools with numpy.load.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/files.h"

namespace hymask {

class NpyWriter {
 public:
  // dtype: a numpy type string such as "<f4" or "<i8"; data follow in C order.
  NpyWriter(const std::filesystem::path& path, const std::string& dtype,
            const std::vector<int64_t>& shape);
  void write(const void* data, size_t bytes);
  // Checks that exactly the promised number of bytes was written. `rows`, if given, replaces the
  // first dimension (at most the one promised): for outputs that skipped bad samples.
  void commit(int64_t rows = -1);

 private:
  AtomicFile file_;
  std::string dtype_;
  std::vector<int64_t> shape_;
  size_t header_size_ = 0;
  size_t expected_ = 0;
  size_t written_ = 0;
};

// Header bytes of a .npy file (magic, version, length, dictionary padded to 64 bytes).
// `min_size` pads the header to at least that many bytes (to rewrite it in place).
std::string npy_header(const std::string& dtype, const std::vector<int64_t>& shape,
                       size_t min_size = 0);

}  // namespace hymask
