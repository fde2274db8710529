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

// Calls write(fd) on a temporary file beside `path`, then fsyncs and renames it over `path`.
void write_file_atomic(const std::filesystem::path& path, const std::function<void(int fd)>& write);
void write_file_atomic(const std::filesystem::path& path, const void* data, size_t size);
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

// write(2) until done; throws on error.
void write_all(int fd, const void* data, size_t size);

}  // namespace hymask
