#include "core/npy.h"

#include <unistd.h>

#include "core/error.h"

namespace hymask {

std::string npy_header(const std::string& dtype, const std::vector<int64_t>& shape,
                       size_t min_size) {
  std::string dict = "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i)
    dict += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? ", " : "");
  dict += "), }";
  // Total header length (10 fixed bytes + dict + newline) padded to a multiple of 64.
  const size_t unpadded = 10 + dict.size() + 1;
  size_t padded = (unpadded + 63) / 64 * 64;
  if (padded < min_size) padded = min_size;
  dict.append(padded - unpadded, ' ');
  dict += '\n';
  std::string header = "\x93NUMPY";
  header += char(1);
  header += char(0);
  header += char(dict.size() & 0xFF);
  header += char(dict.size() >> 8);
  return header + dict;
}

NpyWriter::NpyWriter(const std::filesystem::path& path, const std::string& dtype,
                     const std::vector<int64_t>& shape)
    : file_(path), dtype_(dtype), shape_(shape) {
  const size_t item = std::stoul(dtype.substr(2));
  expected_ = item;
  for (int64_t d : shape) expected_ *= size_t(d);
  const std::string header = npy_header(dtype, shape);
  header_size_ = header.size();
  file_.write(header.data(), header.size());
}

void NpyWriter::write(const void* data, size_t bytes) {
  file_.write(data, bytes);
  written_ += bytes;
}

void NpyWriter::commit(int64_t rows) {
  if (rows >= 0 && !shape_.empty() && rows != shape_[0]) {
    HYMASK_CHECK(rows < shape_[0], rows);
    expected_ = expected_ / size_t(shape_[0]) * size_t(rows);
    shape_[0] = rows;
    const std::string header = npy_header(dtype_, shape_, header_size_);
    HYMASK_CHECK_EQ(header.size(), header_size_);
    if (::pwrite(file_.fd(), header.data(), header.size(), 0) != ssize_t(header.size()))
      throw Error("rewriting the .npy header failed");
  }
  HYMASK_CHECK_EQ(written_, expected_);
  file_.commit();
}

}  // namespace hymask
