// Shared helpers for Catch2 tests.
//
// SS_SKIP("why") ends the current test case as *skipped*: the reason is printed, and the test
// binary exits 77, which CTest reports as "Skipped" (SKIP_RETURN_CODE), never as "Passed".
// Catch2 v2 (Debian 12) has no SKIP() of its own.
#pragma once

#include <catch2/catch.hpp>
#include <kj/string.h>

namespace ss::test {

void markSkipped(kj::StringPtr reason);
bool wasSkipped();

// A fresh directory under $TMPDIR, removed (recursively) when the object dies.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  kj::StringPtr path() const { return dir; }
  kj::String file(kj::StringPtr name) const { return kj::str(dir, "/", name); }

private:
  kj::String dir;
};

}  // namespace ss::test

#define SS_SKIP(reason)                     \
  do {                                      \
    ::ss::test::markSkipped(reason);        \
    return;                                 \
  } while (false)
