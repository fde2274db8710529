#include "core/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace hymask {
namespace fs = std::filesystem;

std::vector<uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    const char* why = fs::exists(path) ? std::strerror(errno) : "no such file";
    throw DataError("cannot read " + path.string() + ": " + why);
  }
  const std::streamsize size = in.tellg();
  in.seekg(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    throw DataError("cannot read " + path.string() + ": read failed");
  return bytes;
}

void write_all(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("write failed: ") + std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

AtomicFile::AtomicFile(const fs::path& path) : path_(path) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  temp_ = (dir / ("." + path.filename().string() + ".tmpXXXXXX")).string();
  fd_ = ::mkstemp(temp_.data());
  if (fd_ < 0)
    throw Error("cannot create a file in " + dir.string() + ": " + std::strerror(errno) +
                " (check that the folder is writable)");
  ::fchmod(fd_, 0644);  // mkstemp creates 0600; outputs are ordinary files
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t size) {
  try {
    write_all(fd_, data, size);
  } catch (const Error& e) {
    throw Error("writing " + path_.string() + " failed: " + e.what() + " (" + path_.string() +
                " itself is as it was before)");
  }
}

void AtomicFile::commit() {
  HYMASK_CHECK(fd_ >= 0, "commit twice");
  if (::fsync(fd_) != 0)
    throw Error("writing " + path_.string() + " failed: fsync: " + std::strerror(errno));
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temp_.c_str());
    throw Error("cannot rename onto " + path_.string() + ": " + why);
  }
  const fs::path dir = path_.has_parent_path() ? path_.parent_path() : fs::path(".");
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void write_file_atomic(const fs::path& path, const std::function<void(int fd)>& write) {
  AtomicFile file(path);
  try {
    write(file.fd());
  } catch (const Error& e) {
    throw Error("writing " + path.string() + " failed: " + e.what() + " (" + path.string() +
                " itself is as it was before)");
  }
  file.commit();
}

void write_file_atomic(const fs::path& path, const void* data, size_t size) {
  write_file_atomic(path, [&](int fd) { write_all(fd, data, size); });
}

void write_file_atomic(const fs::path& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

RunFolderLock::RunFolderLock(const fs::path& dir, const std::string& holder) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path path = dir / "lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error("cannot create " + path.string() + ": " + std::strerror(errno) +
                " (check that the folder is writable)");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    std::string who(256, '\0');
    const ssize_t n = ::pread(fd_, who.data(), who.size(), 0);
    who.resize(n > 0 ? size_t(n) : 0);
    while (!who.empty() && (who.back() == '\n' || who.back() == '\0')) who.pop_back();
    ::close(fd_);
    fd_ = -1;
    throw Error(dir.string() + " is in use by another job (" +
                (who.empty() ? std::string("holder unknown") : who) +
                "): wait for it to end, or choose another --out");
  }
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  const std::string text = holder + " pid " + std::to_string(::getpid()) + " on " + host + "\n";
  if (::ftruncate(fd_, 0) == 0) ::pwrite(fd_, text.data(), text.size(), 0);
}

RunFolderLock::~RunFolderLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

bool shared_with_others(const std::filesystem::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0;
}

}  // namespace hymask
