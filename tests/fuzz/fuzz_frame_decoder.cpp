// libFuzzer entry for hymask::fuzz::frame_decoder (tests/fuzz/fuzz_targets.h).
#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hymask::fuzz::frame_decoder(data, size);
  return 0;
}
