// Catch2 main with skip support (see test-support.h).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/test-support.h"

namespace ss::test {

namespace {
bool skipped = false;
}

void markSkipped(kj::StringPtr reason) {
  fprintf(stderr, "SKIPPED: %s\n", reason.cStr());
  skipped = true;
}

bool wasSkipped() { return skipped; }

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  auto templ = kj::str(base != nullptr ? base : "/tmp", "/ss-test-XXXXXX");
  if (mkdtemp(templ.begin()) == nullptr) {
    perror("mkdtemp");
    abort();
  }
  dir = kj::mv(templ);
}

TempDir::~TempDir() {
  nftw(dir.cStr(), [](const char* path, const struct stat*, int, struct FTW*) {
    ::remove(path);
    return 0;
  }, 16, FTW_DEPTH | FTW_PHYS);
}

}  // namespace ss::test

int main(int argc, char* argv[]) {
  // Tests write to sockets whose peers may be gone; that must be an EPIPE, not a dead test.
  signal(SIGPIPE, SIG_IGN);
  int result = Catch::Session().run(argc, argv);
  if (result == 0 && ss::test::wasSkipped()) return 77;
  return result;
}
