// Helpers shared by the tests: temporary folders and the location of ../shared/data.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/environment.h"

namespace hymask::testing {

// A fresh folder under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hymask-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// ../shared/data (or $HYMASK_DATA_DIR); empty when absent.
inline std::filesystem::path shared_data(const std::string& sub) {
  const std::string env = environment::get(environment::kDataDir);
  const std::filesystem::path root = env.empty() ? HYMASK_DATA_DIR : env;
  const std::filesystem::path path = root / sub;
  return std::filesystem::exists(path) ? path : std::filesystem::path();
}

// A self-signed coordinator certificate naming `host`, made by cluster/tls-certificate.sh:
// dir/coordinator.pem and dir/coordinator.key.
inline void make_tls_certificate(const std::filesystem::path& dir, const std::string& host) {
  const std::string command = std::string(HYMASK_SOURCE_DIR) + "/cluster/tls-certificate.sh '" +
                              dir.string() + "' '" + host + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

}  // namespace hymask::testing

#define HYMASK_REQUIRE_DATA(var, sub)                                                    \
  const std::filesystem::path var = ::hymask::testing::shared_data(sub);                 \
  if (var.empty())                                                                       \
  GTEST_SKIP() << "shared data " << sub << " is absent (expected in " << HYMASK_DATA_DIR \
               << " or $HYMASK_DATA_DIR)"
