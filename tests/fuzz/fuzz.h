// One fuzz target = one file defining SS_FUZZ_TARGET("name") { ...body over data, size... }.
// The same file is linked into two programs:
//   - its libFuzzer binary (libfuzzer-main.c++, SANDSTORM_FUZZ=ON with clang-14), and
//   - fuzz-replay (replay-main.c++, every build): ctest replays the committed corpus and
//     regression inputs through the same body, so CI runs them under gcc and ASan/UBSan with
//     no fuzzer installed.
// A body returns 0 and fails with FUZZ_CHECK (abort with a message), never by throwing: inputs
// the code rightly refuses (a kj::Exception) are caught in the body and are not findings.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

namespace ss::fuzz {

using Body = int (*)(const uint8_t* data, size_t size);

struct Registration {
  Registration(const char* name, Body body);
};

Body find(const char* name);     // null if no target of that name is linked in
const char* onlyTargetName();    // the libFuzzer binary's single target

[[noreturn]] void fail(const char* file, int line, const char* what);

}  // namespace ss::fuzz

#define FUZZ_CHECK(cond) \
  do { if (!(cond)) ::ss::fuzz::fail(__FILE__, __LINE__, #cond); } while (false)

#define SS_FUZZ_CONCAT2(a, b) a##b
#define SS_FUZZ_CONCAT(a, b) SS_FUZZ_CONCAT2(a, b)
#define SS_FUZZ_TARGET(name)                                                    \
  static int ssFuzzBody(const uint8_t* data, size_t size);                      \
  static ::ss::fuzz::Registration SS_FUZZ_CONCAT(ssFuzzReg, __LINE__)(name, ssFuzzBody); \
  static int ssFuzzBody(const uint8_t* data, size_t size)
