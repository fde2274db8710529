#include "core/archive_check.h"

#include <zlib.h>

#include <fstream>

#include "core/error.h"

namespace hymask {
namespace fs = std::filesystem;

namespace {

constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64EndOfDirectory = 0x06064b50;
constexpr uint32_t kDirectoryEntry = 0x02014b50;
constexpr uint32_t kLocalHeader = 0x04034b50;

uint64_t little(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

class Reader {
 public:
  explicit Reader(const fs::path& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw Error("cannot open " + path.string());
    in_.seekg(0, std::ios::end);
    size_ = uint64_t(in_.tellg());
  }
  std::vector<uint8_t> read(uint64_t offset, uint64_t count) {
    if (offset > size_ || count > size_ - offset) damaged("it is truncated");
    std::vector<uint8_t> bytes(count);
    in_.seekg(std::streamoff(offset));
    in_.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(count));
    if (!in_) damaged("it cannot be read");
    return bytes;
  }
  uint64_t size() const { return size_; }
  [[noreturn]] void damaged(const std::string& why) const {
    throw Error(path_.string() + " is damaged: " + why);
  }

 private:
  fs::path path_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

}  // namespace

std::vector<ArchiveMember> archive_members(const fs::path& path) {
  Reader file(path);
  // The end-of-directory record sits in the last 22 + 65535 (comment) bytes.
  const uint64_t tail = std::min<uint64_t>(file.size(), 22 + 65535);
  const std::vector<uint8_t> end = file.read(file.size() - tail, tail);
  int64_t at = -1;
  for (int64_t i = int64_t(end.size()) - 22; i >= 0; --i)
    if (little(&end[size_t(i)], 4) == kEndOfDirectory) {
      at = i;
      break;
    }
  if (at < 0) file.damaged("no zip directory at its end (truncated, or not a checkpoint)");
  uint64_t entries = little(&end[size_t(at) + 10], 2);
  uint64_t directory = little(&end[size_t(at) + 16], 4);
  uint64_t directory_size = little(&end[size_t(at) + 12], 4);
  if (at >= 20 && little(&end[size_t(at) - 20], 4) == kZip64Locator) {  // zip64 archive
    const uint64_t record = little(&end[size_t(at) - 20 + 8], 8);
    const std::vector<uint8_t> z = file.read(record, 56);
    if (little(z.data(), 4) != kZip64EndOfDirectory) file.damaged("its zip64 directory is lost");
    entries = little(&z[32], 8);
    directory_size = little(&z[40], 8);
    directory = little(&z[48], 8);
  }
  const std::vector<uint8_t> d = file.read(directory, directory_size);
  std::vector<ArchiveMember> members;
  size_t p = 0;
  for (uint64_t e = 0; e < entries; ++e) {
    if (p + 46 > d.size() || little(&d[p], 4) != kDirectoryEntry)
      file.damaged("its zip directory is corrupt");
    ArchiveMember m;
    const uint64_t method = little(&d[p + 10], 2);
    m.crc = uint32_t(little(&d[p + 16], 4));
    m.size = little(&d[p + 20], 4);
    uint64_t local = little(&d[p + 42], 4);
    const size_t name_length = little(&d[p + 28], 2), extra_length = little(&d[p + 30], 2),
                 comment_length = little(&d[p + 32], 2);
    if (p + 46 + name_length + extra_length + comment_length > d.size())
      file.damaged("its zip directory is corrupt");
    m.name.assign(reinterpret_cast<const char*>(&d[p + 46]), name_length);
    // zip64 sizes and offsets, in the order of the fields that overflowed.
    const uint64_t uncompressed = little(&d[p + 24], 4);
    for (size_t x = p + 46 + name_length; x + 4 <= p + 46 + name_length + extra_length;) {
      const uint64_t id = little(&d[x], 2), length = little(&d[x + 2], 2);
      if (id == 0x0001) {
        size_t f = x + 4;
        if (uncompressed == 0xFFFFFFFF) m.size = little(&d[f], 8), f += 8;
        if (little(&d[p + 20], 4) == 0xFFFFFFFF) m.size = little(&d[f], 8), f += 8;
        if (local == 0xFFFFFFFF) local = little(&d[f], 8);
      }
      x += 4 + length;
    }
    if (method != 0 && method != 8)
      file.damaged("member " + m.name + " uses zip method " + std::to_string(method) +
                   " (not a LibTorch archive)");
    m.deflated = method == 8;
    const std::vector<uint8_t> header = file.read(local, 30);
    if (little(header.data(), 4) != kLocalHeader)
      file.damaged("member " + m.name + " has lost its header");
    m.offset = local + 30 + little(&header[26], 2) + little(&header[28], 2);
    members.push_back(m);
    p += 46 + name_length + extra_length + comment_length;
  }
  return members;
}

void verify_archive(const fs::path& path) {
  Reader file(path);
  for (const ArchiveMember& m : archive_members(path)) {
    uLong crc = crc32(0, nullptr, 0);
    z_stream z{};
    if (m.deflated && inflateInit2(&z, -MAX_WBITS) != Z_OK) throw Error("zlib: out of memory");
    std::vector<uint8_t> out(1 << 16);
    bool inflated = !m.deflated;
    for (uint64_t done = 0; done < m.size;) {
      const uint64_t chunk = std::min<uint64_t>(m.size - done, 1 << 20);
      std::vector<uint8_t> bytes = file.read(m.offset + done, chunk);
      done += chunk;
      if (!m.deflated) {
        crc = crc32(crc, bytes.data(), uInt(chunk));
        continue;
      }
      z.next_in = bytes.data();
      z.avail_in = uInt(chunk);
      while (z.avail_in > 0 && !inflated) {
        z.next_out = out.data();
        z.avail_out = uInt(out.size());
        const int status = inflate(&z, Z_NO_FLUSH);
        if (status != Z_OK && status != Z_STREAM_END) break;
        crc = crc32(crc, out.data(), uInt(out.size() - z.avail_out));
        inflated = status == Z_STREAM_END;
      }
    }
    if (m.deflated) inflateEnd(&z);
    if (!inflated) file.damaged("member " + m.name + " fails to decompress");
    if (uint32_t(crc) != m.crc)
      file.damaged("member " + m.name + " fails its CRC-32 (its bytes changed after writing)");
  }
}

}  // namespace hymask
