#include "comm/communicator.h"

#include <sstream>

namespace hymask::comm {

namespace {
std::string describe(const std::string& operation, Timeout timeout,
                     const std::vector<int>& missing, bool known) {
  std::ostringstream out;
  out << operation << " timed out after " << timeout.count() / 1000.0 << " s: ";
  if (!known) {
    out << "some rank never reached it";
  } else if (missing.empty()) {
    out << "every rank arrived but the operation did not complete";
  } else {
    out << "rank" << (missing.size() > 1 ? "s " : " ");
    for (size_t i = 0; i < missing.size(); ++i) out << (i ? ", " : "") << missing[i];
    out << " never reached it";
  }
  out << " (a rank died or hangs; the job cannot continue: restart it, it resumes from the last "
         "checkpoint)";
  return out.str();
}
}  // namespace

CollectiveTimeout::CollectiveTimeout(const std::string& operation, Timeout timeout,
                                     std::vector<int> missing, bool missing_known)
    : CommError(describe(operation, timeout, missing, missing_known)),
      missing_(std::move(missing)) {}

}  // namespace hymask::comm
