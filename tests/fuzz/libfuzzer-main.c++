// The libFuzzer entry point: the binary links exactly one SS_FUZZ_TARGET.
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ss::fuzz::Body body = ss::fuzz::find(ss::fuzz::onlyTargetName());
  return body(data, size);
}
