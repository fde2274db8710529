// libFuzzer entry for hymask::fuzz::recordio_reader (tests/fuzz/fuzz_targets.h).
#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hymask::fuzz::recordio_reader(data, size);
  return 0;
}
