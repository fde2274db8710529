// libFuzzer entry for hymask::fuzz::config_parser (tests/fuzz/fuzz_targets.h).
#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hymask::fuzz::config_parser(data, size);
  return 0;
}
