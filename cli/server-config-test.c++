#include "cli/server-config.h"

#include <stdio.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/exception.h>

#include "tests/test-support.h"

using ss::cli::Config;
using ss::cli::parseConfig;

// The message parseConfig throws for `text` ("" if it does not throw).
static kj::String errorOf(kj::StringPtr text) {
  kj::String message = kj::str("");
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { parseConfig(text, "test.conf"); })) {
    message = kj::str(e->getDescription());
  }
  return message;
}

TEST_CASE("a full sandstorm.conf parses into every field", "[config]") {
  auto config = parseConfig(
      "# written by install.sh\n"
      "SERVER_USER=sandstorm\n"
      "PORT=6080\n"
      "BIND_IP=0.0.0.0\n"
      "BASE_URL=https://sandstorm.example.com/\n"
      "WILDCARD_HOST=*.example.com\n"
      "\n"
      "  DATA_DIR = /opt/sandstorm/var  \n"
      "GRAIN_PORTS=7100-7199\n"
      "IDLE_TIMEOUT_SECONDS=300\r\n"
      "GRAIN_TIMEOUT_SECONDS=60\n"
      "SEND_TIMEOUT_SECONDS=30\n"
      "LOG_FORMAT=text\n"
      "GRAIN_MEMORY_MIB=256\n"
      "GRAIN_MAX_PROCESSES=64\n"
      "INSTALL_DEMO_APPS=no\n"
      "UI_DIR=\"/opt/ui\"\n"
      "DEMO_APPS_DIR='/opt/apps'",  // no newline at the end
      "sandstorm.conf");
  CHECK(KJ_ASSERT_NONNULL(config.serverUser) == "sandstorm");
  CHECK(KJ_ASSERT_NONNULL(config.port) == 6080);
  CHECK(KJ_ASSERT_NONNULL(config.bindIp) == "0.0.0.0");
  CHECK(KJ_ASSERT_NONNULL(config.baseUrl) == "https://sandstorm.example.com");
  CHECK(KJ_ASSERT_NONNULL(config.wildcardHost) == "*.example.com");
  CHECK(KJ_ASSERT_NONNULL(config.dataDir) == "/opt/sandstorm/var");
  CHECK(KJ_ASSERT_NONNULL(config.grainPorts).first == 7100);
  CHECK(KJ_ASSERT_NONNULL(config.grainPorts).count == 100);
  CHECK(KJ_ASSERT_NONNULL(config.idleTimeoutSeconds) == 300);
  CHECK(KJ_ASSERT_NONNULL(config.grainTimeoutSeconds) == 60);
  CHECK(KJ_ASSERT_NONNULL(config.sendTimeoutSeconds) == 30);
  CHECK(KJ_ASSERT_NONNULL(config.logFormat) == "text");
  CHECK(KJ_ASSERT_NONNULL(config.grainMemoryMib) == 256);
  CHECK(KJ_ASSERT_NONNULL(config.grainMaxProcesses) == 64);
  CHECK(KJ_ASSERT_NONNULL(config.installDemoApps) == false);
  CHECK(KJ_ASSERT_NONNULL(config.uiDir) == "/opt/ui");
  CHECK(KJ_ASSERT_NONNULL(config.demoAppsDir) == "/opt/apps");
  CHECK(config.warnings.size() == 0);
}

TEST_CASE("an empty file or only comments sets nothing", "[config]") {
  auto config = parseConfig("\n# PORT=1\n   \n\t# x\n", "a.conf");
  CHECK(config.port == nullptr);
  CHECK(config.dataDir == nullptr);
}

TEST_CASE("bad lines fail with file:line and what is wrong", "[config]") {
  CHECK(errorOf("PORT=6080\nPROT=1\n") ==
        kj::StringPtr("test.conf:2: unknown key PROT (known keys: SERVER_USER, PORT, BIND_IP, "
                      "BASE_URL, WILDCARD_HOST, DATA_DIR, GRAIN_PORTS, IDLE_TIMEOUT_SECONDS, "
                      "GRAIN_TIMEOUT_SECONDS, SEND_TIMEOUT_SECONDS, LOG_FORMAT, METRICS_BIND, "
                      "GRAIN_MEMORY_MIB, GRAIN_MAX_PROCESSES, INSTALL_DEMO_APPS, UI_DIR, "
                      "DEMO_APPS_DIR)"));
  CHECK(errorOf("\n\nPORT=70000\n") ==
        kj::StringPtr("test.conf:3: PORT=70000: must be a port number from 0 to 65535 (0 picks "
                      "a free port)"));
  CHECK(errorOf("PORT=80,6080") ==
        kj::StringPtr("test.conf:1: PORT=80,6080: only one port is supported (Sandstorm's "
                      "alternate ports are not)"));
  CHECK(errorOf("PORT=-1").startsWith("test.conf:1: PORT=-1: must be a port"));
  CHECK(errorOf("PORT=").startsWith("test.conf:1: PORT=: must be a port"));
  CHECK(errorOf("INSTALL_DEMO_APPS=maybe") ==
        kj::StringPtr("test.conf:1: INSTALL_DEMO_APPS=maybe: must be true, false, yes or no"));
  CHECK(errorOf("WILDCARD_HOST=example.com") ==
        kj::StringPtr("test.conf:1: WILDCARD_HOST=example.com: must contain exactly one '*' "
                      "(e.g. *.example.com)"));
  CHECK(errorOf("WILDCARD_HOST=*.*.example.com").startsWith(
        "test.conf:1: WILDCARD_HOST=*.*.example.com: must contain exactly one '*'"));
  CHECK(errorOf("WILDCARD_HOST=ui-*.example.com").startsWith(
        "test.conf:1: WILDCARD_HOST=ui-*.example.com: must start with '*.'"));
  CHECK(errorOf("WILDCARD_HOST=*.example.com:6080").startsWith(
        "test.conf:1: WILDCARD_HOST=*.example.com:6080: must not have a port"));
  CHECK(errorOf("BIND_IP=localhost").startsWith(
        "test.conf:1: BIND_IP=localhost: must be an IPv4 or IPv6 address"));
  CHECK(errorOf("BASE_URL=sandstorm.example.com").startsWith(
        "test.conf:1: BASE_URL=sandstorm.example.com: must start with http:// or https://"));
  CHECK(errorOf("BASE_URL=https://a.example.com/sandstorm") ==
        kj::StringPtr("test.conf:1: BASE_URL=https://a.example.com/sandstorm: must not have a "
                      "path (no '/' after the host)"));
  CHECK(errorOf("BASE_URL=http://a.example.com:99999") ==
        kj::StringPtr("test.conf:1: BASE_URL=http://a.example.com:99999: has a bad port"));
  CHECK(errorOf("DATA_DIR=var") ==
        kj::StringPtr("test.conf:1: DATA_DIR=var: must be an absolute path (starting with /)"));
  CHECK(errorOf("GRAIN_PORTS=7099-7000") ==
        kj::StringPtr("test.conf:1: GRAIN_PORTS=7099-7000: must be a range of ports like "
                      "7000-7099"));
  CHECK(errorOf("GRAIN_PORTS=0-10").startsWith("test.conf:1: GRAIN_PORTS=0-10: must be a range"));
  CHECK(errorOf("IDLE_TIMEOUT_SECONDS=0") ==
        kj::StringPtr("test.conf:1: IDLE_TIMEOUT_SECONDS=0: must be a number of seconds from 1 "
                      "to 86400"));
  CHECK(errorOf("GRAIN_MEMORY_MIB=1").startsWith("test.conf:1: GRAIN_MEMORY_MIB=1: must be a"));
  CHECK(errorOf("SERVER_USER=Root!").startsWith("test.conf:1: SERVER_USER=Root!: must be a user"));
  CHECK(errorOf("LOG_FORMAT=xml") ==
        kj::StringPtr("test.conf:1: LOG_FORMAT=xml: must be text or json"));
  CHECK(errorOf("PORT 6080") ==
        kj::StringPtr("test.conf:1: expected KEY=VALUE, got \"PORT 6080\""));
  CHECK(errorOf("=6080") == kj::StringPtr("test.conf:1: a line starts with '=': the key is missing"));
  CHECK(errorOf("PORT=1\nBIND_IP=::\nPORT=2") ==
        kj::StringPtr("test.conf:3: PORT is set twice (also on line 1)"));
  CHECK(errorOf("BASE_URL=http://a\x01").startsWith("test.conf:1: BASE_URL="));
  CHECK(errorOf(kj::StringPtr("PORT=1\0X", 8)) == kj::StringPtr("test.conf:1: a NUL byte in the line"));
}

TEST_CASE("METRICS_BIND and LOG_FORMAT=json are read; a bad address names the line", "[config]") {
  auto config = parseConfig("METRICS_BIND=[::1]:9116\nLOG_FORMAT=json\n", "test.conf");
  CHECK(KJ_ASSERT_NONNULL(config.metricsBind) == "[::1]:9116");
  CHECK(KJ_ASSERT_NONNULL(config.logFormat) == "json");
  CHECK(errorOf("METRICS_BIND=localhost:9116") ==
        kj::StringPtr("test.conf:1: METRICS_BIND=localhost:9116: must be <ip>:<port>, e.g. "
                      "127.0.0.1:9116 or [::1]:9116"));
  CHECK(errorOf("METRICS_BIND=::1:9116").startsWith("test.conf:1: METRICS_BIND=::1:9116: must"));
}

TEST_CASE("old Sandstorm keys are ignored with a warning naming the line", "[config]") {
  auto config = parseConfig("MONGO_PORT=6081\nPORT=6080\nSANDCATS_BASE_DOMAIN=sandcats.io\n",
                            "old.conf");
  CHECK(KJ_ASSERT_NONNULL(config.port) == 6080);
  REQUIRE(config.warnings.size() == 2);
  CHECK(config.warnings[0] ==
        kj::StringPtr("old.conf:1: MONGO_PORT is ignored (there is no MongoDB: the store is "
                      "SQLite in DATA_DIR)"));
  CHECK(config.warnings[1].startsWith("old.conf:3: SANDCATS_BASE_DOMAIN is ignored"));
}

TEST_CASE("accepted values at the edges", "[config]") {
  CHECK(KJ_ASSERT_NONNULL(parseConfig("PORT=0", "t").port) == 0);
  CHECK(KJ_ASSERT_NONNULL(parseConfig("PORT=65535", "t").port) == 65535);
  CHECK(KJ_ASSERT_NONNULL(parseConfig("BIND_IP=::1", "t").bindIp) == "::1");
  CHECK(KJ_ASSERT_NONNULL(parseConfig("BASE_URL=http://[::1]:6080", "t").baseUrl) ==
        "http://[::1]:6080");
  CHECK(KJ_ASSERT_NONNULL(parseConfig("BASE_URL=http://127.0.0.1:6080", "t").baseUrl) ==
        "http://127.0.0.1:6080");
  CHECK(KJ_ASSERT_NONNULL(parseConfig("GRAIN_PORTS=7000-7000", "t").grainPorts).count == 1);
  CHECK(KJ_ASSERT_NONNULL(parseConfig("INSTALL_DEMO_APPS=true", "t").installDemoApps));
  CHECK(KJ_ASSERT_NONNULL(parseConfig("SERVER_USER=_sandstorm-1", "t").serverUser) ==
        "_sandstorm-1");
}

TEST_CASE("command-line settings override the file's", "[config]") {
  auto file = parseConfig("PORT=6080\nDATA_DIR=/srv/a\nIDLE_TIMEOUT_SECONDS=5", "f");
  Config cli;
  CHECK(ss::cli::applySetting(cli, "PORT", "8080") == nullptr);
  CHECK(ss::cli::applySetting(cli, "PORT", "x") != nullptr);
  file.overrideWith(kj::mv(cli));
  CHECK(KJ_ASSERT_NONNULL(file.port) == 8080);
  CHECK(KJ_ASSERT_NONNULL(file.dataDir) == "/srv/a");
  CHECK(KJ_ASSERT_NONNULL(file.idleTimeoutSeconds) == 5);
}

TEST_CASE("readConfigFile names a missing file and reads a real one", "[config]") {
  kj::String message;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                     [&]() { ss::cli::readConfigFile("/nonexistent/sandstorm.conf"); })) {
    message = kj::str(e->getDescription());
  }
  CHECK(message == kj::StringPtr("cannot read the config file /nonexistent/sandstorm.conf: No "
                                 "such file or directory"));

  char path[] = "/tmp/config-test-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  kj::StringPtr text = "PORT=6123\nPORT=1\n";
  REQUIRE(write(fd, text.begin(), text.size()) == ssize_t(text.size()));
  close(fd);
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { ss::cli::readConfigFile(path); })) {
    message = kj::str(e->getDescription());
  }
  unlink(path);
  CHECK(message == kj::str(path, ":2: PORT is set twice (also on line 1)"));
}
