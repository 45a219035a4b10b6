#include "base/log.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kj/debug.h>

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

TEST_CASE("SS_LOG names grain/app/user fields by their short names", "[base]") {
  auto text = captureLog([]() {
    kj::StringPtr grainId = "g1";
    struct { kj::StringPtr appId = "a1"; } p;
    SS_LOG(INFO, "grain", "started", grainId, p.appId);
  });
  CHECK(text.endsWith("info grain: started grain=g1 app=a1\n"));
}

TEST_CASE("SS_LOG with LOG_FORMAT=json writes one JSON object per line", "[base]") {
  auto text = captureLog([]() {
    ss::setLogFormat(ss::LogFormat::JSON);
    kj::StringPtr grainId = "g\"1";
    int pid = 42;
    SS_LOG(WARNING, "grain", "stopped\nby itself", grainId, pid);
    ss::setLogFormat(ss::LogFormat::TEXT);
  });
  CAPTURE(text.cStr());
  CHECK(text.startsWith("{\"ts\":\"20"));
  CHECK(text.endsWith("\",\"level\":\"warning\",\"subsystem\":\"grain\","
                      "\"msg\":\"stopped\\u000aby itself\",\"grain\":\"g\\\"1\",\"pid\":\"42\"}\n"));
  CHECK(text.findFirst('\n') == text.size() - 1);
}

TEST_CASE("SS_LOG under journald (JOURNAL_STREAM is our stderr) starts with a <N> priority",
          "[base]") {
  auto text = captureLog([]() {
    struct stat info;
    KJ_ASSERT(fstat(STDERR_FILENO, &info) == 0);
    setenv("JOURNAL_STREAM", kj::str(info.st_dev, ":", info.st_ino).cStr(), 1);
    ss::detectJournal();
    SS_LOG(ERROR, "x", "bad");
    SS_LOG(INFO, "x", "fine");
    setenv("JOURNAL_STREAM", "1:2", 1);  // another file: no prefix
    ss::detectJournal();
    SS_LOG(INFO, "x", "plain");
    unsetenv("JOURNAL_STREAM");
    ss::detectJournal();
  });
  CAPTURE(text.cStr());
  CHECK(text.startsWith("<3>error x: bad\n<6>info x: fine\n20"));
  CHECK(text.endsWith("info x: plain\n"));
}

TEST_CASE("KJ_LOG goes through the same writer while the bridge is installed", "[base]") {
  auto text = captureLog([]() {
    ss::LogBridge bridge;
    ss::setLogFormat(ss::LogFormat::JSON);
    KJ_LOG(WARNING, "from kj");
    ss::setLogFormat(ss::LogFormat::TEXT);
  });
  CAPTURE(text.cStr());
  CHECK(text.findFirst('\n') == text.size() - 1);
  CHECK(strstr(text.cStr(), "\"level\":\"warning\",\"subsystem\":\"kj\"") != nullptr);
  CHECK(strstr(text.cStr(), "from kj") != nullptr);
  CHECK(strstr(text.cStr(), "log-test.c++:") != nullptr);
}
