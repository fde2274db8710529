#include "comm/communicator.h"

#include <sstream>

namespace hymask::comm {

namespace {
void list_ranks(std::ostringstream& out, const std::vector<int>& ranks) {
  out << "rank" << (ranks.size() > 1 ? "s " : " ");
  for (size_t i = 0; i < ranks.size(); ++i) out << (i ? ", " : "") << ranks[i];
}

std::string describe(const std::string& operation, Timeout timeout, const std::vector<int>& missing,
                     const std::vector<int>& silent, bool known) {
  std::ostringstream out;
  out << operation << " timed out after " << timeout.count() / 1000.0 << " s: ";
  if (!known) out << "some rank never reached it or stopped responding";
  if (known && missing.empty() && silent.empty())
    out << "every rank arrived and responds, but the operation did not complete";
  if (!missing.empty()) {
    list_ranks(out, missing);
    out << " never reached it";
  }
  if (!silent.empty()) {
    out << (missing.empty() ? "" : "; ");
    list_ranks(out, silent);
    out << " stopped responding";
  }
  out << " (a rank died or hangs; the job cannot continue: restart it, it resumes from the last "
         "checkpoint)";
  return out.str();
}
}  // namespace

CollectiveTimeout::CollectiveTimeout(const std::string& operation, Timeout timeout,
                                     std::vector<int> missing, std::vector<int> silent, bool known)
    : CommError(describe(operation, timeout, missing, silent, known)),
      missing_(std::move(missing)),
      silent_(std::move(silent)) {}

}  // namespace hymask::comm
