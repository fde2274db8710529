// libFuzzer entry for hymask::fuzz::verification_bin (tests/fuzz/fuzz_targets.h).
#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hymask::fuzz::verification_bin(data, size);
  return 0;
}
