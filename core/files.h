// File helpers: whole-file reads with clear errors, and atomic writes (temporary file, fsync,
// rename, fsync of the folder), so a crash never leaves a half-written output behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace hymask {

std::vector<uint8_t> read_file(const std::filesystem::path& path);

// A file written in pieces that appears at `path` only on commit(); dropped if never committed.
class AtomicFile {
 public:
  explicit AtomicFile(const std::filesystem::path& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void commit();  // fsync, rename over `path`, fsync the folder
  int fd() const { return fd_; }

 private:
  std::filesystem::path path_;
  std::string temp_;
  int fd_ = -1;
};

// Calls write(fd) on a temporary file beside `path`, then fsyncs and renames it over `path`.
void write_file_atomic(const std::filesystem::path& path, const std::function<void(int fd)>& write);
void write_file_atomic(const std::filesystem::path& path, const void* data, size_t size);
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

// An exclusive lock on a run folder (flock on DIR/lock) for the object's life: one run folder,
// one job. The holder writes who it is into the file; a second job gets an Error that names it.
class RunFolderLock {
 public:
  RunFolderLock(const std::filesystem::path& dir, const std::string& holder);
  ~RunFolderLock();
  RunFolderLock(const RunFolderLock&) = delete;
  RunFolderLock& operator=(const RunFolderLock&) = delete;

 private:
  int fd_ = -1;
};

// write(2) until done; throws on error.
void write_all(int fd, const void* data, size_t size);

// Whether users other than the owner may read or write the file (secrets and keys must not be).
bool shared_with_others(const std::filesystem::path& path);

}  // namespace hymask
