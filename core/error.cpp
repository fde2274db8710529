#include "core/error.h"

namespace hymask::detail {

void check_failed(const char* file, int line, const char* condition, const std::string& message) {
  std::ostringstream out;
  out << "internal check failed at " << file << ":" << line << ": " << condition;
  if (!message.empty()) out << " (" << message << ")";
  throw std::logic_error(out.str());
}

}  // namespace hymask::detail
