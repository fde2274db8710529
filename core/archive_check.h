// Integrity of the zip archives that LibTorch writes (checkpoints, the coordinator's state):
// every member's bytes against the CRC-32 its central directory records, as Python's
// zipfile.testzip() does. LibTorch's reader does not check them, so a damaged checkpoint would
// otherwise load and train from damaged weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hymask {

struct ArchiveMember {
  std::string name;
  uint64_t offset = 0;    // of its bytes in the file
  uint64_t size = 0;      // bytes in the file
  bool deflated = false;  // compressed (LibTorch stores tensors, and deflates some small members)
  uint32_t crc = 0;       // recorded, of the uncompressed bytes
};

// The members of a zip archive, from its central directory. Throws Error naming the file when it
// is not a zip archive, or is truncated.
std::vector<ArchiveMember> archive_members(const std::filesystem::path& path);

// Throws Error naming the file and the first member whose bytes fail their CRC-32.
void verify_archive(const std::filesystem::path& path);

}  // namespace hymask
