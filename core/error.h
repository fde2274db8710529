// Errors and invariant checks shared by every layer.
//
// Recoverable failures a user can cause (bad config, unreadable file) are typed exceptions whose
// message says what was wrong and what to do. Broken internal invariants use HYMASK_CHECK, which
// prints the failed condition with file:line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace hymask {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration file or override is wrong (unknown key, wrong type, value out of range).
class ConfigError : public Error {
 public:
  using Error::Error;
};

// An input file or folder is missing, unreadable, corrupt or of the wrong size.
class DataError : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn]] void check_failed(const char* file, int line, const char* condition,
                               const std::string& message);

template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

}  // namespace hymask

#define HYMASK_CHECK(condition, ...)                                               \
  do {                                                                             \
    if (!(condition))                                                              \
      ::hymask::detail::check_failed(__FILE__, __LINE__, #condition,               \
                                     ::hymask::detail::concat("", ##__VA_ARGS__)); \
  } while (0)

// Compares two values and prints both when they differ.
#define HYMASK_CHECK_EQ(a, b)                                                                 \
  do {                                                                                        \
    const auto& hymask_a_ = (a);                                                              \
    const auto& hymask_b_ = (b);                                                              \
    if (!(hymask_a_ == hymask_b_))                                                            \
      ::hymask::detail::check_failed(__FILE__, __LINE__, #a " == " #b,                        \
                                     ::hymask::detail::concat(hymask_a_, " vs ", hymask_b_)); \
  } while (0)
