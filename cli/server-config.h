// sandstorm.conf (cli/server-config.h; not "config.h", which is the build's generated header):
// Sandstorm's KEY=VALUE file (one per line, `#` starts a comment line, no
// sections), plus our own keys. Command-line options override the file: both go through
// applySetting(), so a value means the same thing (and fails the same way) in either place.
//
// The parser is a pure function over text so tests and the fuzzer can drive it directly.
#pragma once

#include <kj/common.h>
#include <kj/string.h>
#include <kj/vector.h>

#include <stdint.h>

namespace ss::cli {

struct PortRange {
  uint16_t first;
  uint16_t count;
};

struct Config {
  // Every field is optional: unset means "the default" (or "whatever the other source says").
  kj::Maybe<kj::String> serverUser;       // SERVER_USER
  kj::Maybe<uint16_t> port;               // PORT
  kj::Maybe<kj::String> bindIp;           // BIND_IP (--listen)
  kj::Maybe<kj::String> baseUrl;          // BASE_URL: what people type (no trailing slash)
  kj::Maybe<kj::String> wildcardHost;     // WILDCARD_HOST: "*.example.com"
  kj::Maybe<kj::String> dataDir;          // DATA_DIR (absolute)
  kj::Maybe<PortRange> grainPorts;        // GRAIN_PORTS: "7000-7099"
  kj::Maybe<uint64_t> idleTimeoutSeconds;   // IDLE_TIMEOUT_SECONDS
  kj::Maybe<uint64_t> grainTimeoutSeconds;  // GRAIN_TIMEOUT_SECONDS
  kj::Maybe<uint64_t> sendTimeoutSeconds;   // SEND_TIMEOUT_SECONDS
  kj::Maybe<kj::String> logFormat;        // LOG_FORMAT: "text" or "json"
  kj::Maybe<kj::String> metricsBind;      // METRICS_BIND: ADDR:PORT
  kj::Maybe<uint64_t> grainMemoryMib;     // GRAIN_MEMORY_MIB: each grain's memory limit
  kj::Maybe<uint32_t> grainMaxProcesses;  // GRAIN_MAX_PROCESSES: each grain's pids limit
  kj::Maybe<bool> installDemoApps;        // INSTALL_DEMO_APPS: offer demo apps on first start
  kj::Maybe<kj::String> uiDir;            // UI_DIR
  kj::Maybe<kj::String> demoAppsDir;      // DEMO_APPS_DIR

  kj::Vector<kj::String> warnings;
  // "file:line: ..." for keys we accept but ignore (old Sandstorm keys), so old files keep
  // working; the caller prints them.

  void overrideWith(Config&& other);
  // Fields set in `other` replace ours (the command line over the file).
};

struct ListenAddress {
  kj::String host;  // an IP literal, without brackets
  uint16_t port;
};
kj::Maybe<ListenAddress> parseListenAddress(kj::StringPtr text);
// "127.0.0.1:9116", "[::1]:9116" (port 1-65535, or 0 for any free port); null if malformed.

Config parseConfig(kj::StringPtr text, kj::StringPtr fileName);
// Throws a kj::Exception whose description is exactly "<fileName>:<line>: <message>" for the
// first bad line: unknown key, a key set twice, a line without `=`, a value out of range...

Config readConfigFile(kj::StringPtr path);
// parseConfig() on the file's contents; a missing or unreadable file is an error naming it.

kj::Maybe<kj::String> applySetting(Config& config, kj::StringPtr key, kj::StringPtr value);
// Sets one KEY (as in the file) from its text; returns what is wrong with the value, if
// anything. Unknown keys are the caller's business (isKnownKey).

bool isKnownKey(kj::StringPtr key);

kj::Maybe<kj::StringPtr> ignoredKeyReason(kj::StringPtr key);
// Old Sandstorm keys that mean nothing here: why they are ignored.

}  // namespace ss::cli
