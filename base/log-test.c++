#include "base/log.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/fd.h"
#include "tests/test-support.h"

// Captures what SS_LOG writes to stderr through a real pipe.
static kj::String captureLog(void (*body)()) {
  auto pipe = ss::makePipe(false);
  int saved = dup(STDERR_FILENO);
  dup2(pipe.second, STDERR_FILENO);
  body();
  dup2(saved, STDERR_FILENO);
  close(saved);
  pipe.second = nullptr;
  char buffer[4096];
  ssize_t n = read(pipe.first, buffer, sizeof(buffer));
  REQUIRE(n > 0);
  return kj::heapString(buffer, n);
}

TEST_CASE("SS_LOG writes one structured line with quoted values", "[base]") {
  auto text = captureLog([]() {
    int port = 6080;
    kj::StringPtr path = "/a b";
    SS_LOG(INFO, "http", "listening", port, path);
  });
  CAPTURE(text.cStr());
  CHECK(text.endsWith("info http: listening port=6080 path=\"/a b\"\n"));
  CHECK(text.startsWith("20"));  // ISO-8601 timestamp
}

TEST_CASE("SS_LOG drops lines below the level", "[base]") {
  auto text = captureLog([]() {
    SS_LOG(DEBUG, "x", "hidden");
    SS_LOG(ERROR, "x", "shown");
  });
  CHECK(text.endsWith("error x: shown\n"));
  CHECK(text.findFirst('\n') == text.size() - 1);
}
