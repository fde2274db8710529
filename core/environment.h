// Every environment variable the C++ programs read, declared once (configs/README.md lists them
// with the scripts' own). Settings belong in the config; the environment carries only secrets and
// where things are.
#pragma once

#include <cstdlib>
#include <string>

namespace hymask::environment {

inline constexpr const char* kSecretFile = "HYMASK_SECRET_FILE";      // the shared secret's file
inline constexpr const char* kSecret = "HYMASK_SECRET";               // the secret itself
inline constexpr const char* kConsoleToken = "HYMASK_CONSOLE_TOKEN";  // console control token
inline constexpr const char* kDataDir = "HYMASK_DATA_DIR";            // tests: the face datasets

// The variable's value, or "" when it is unset.
inline std::string get(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace hymask::environment
