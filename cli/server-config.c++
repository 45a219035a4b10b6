#include "cli/server-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/exception.h>

#include "base/fd.h"

namespace ss::cli {

namespace {

// Bounds on values, named once. Timeouts: a day is longer than anything sensible.
constexpr uint64_t MAX_TIMEOUT_SECONDS = 86'400;
constexpr uint64_t MIN_GRAIN_MEMORY_MIB = 16;          // below this no app's runtime starts
constexpr uint64_t MAX_GRAIN_MEMORY_MIB = 1ull << 20;  // 1 TiB
constexpr uint32_t MIN_GRAIN_PROCESSES = 8;            // bridge + app + a few helpers
constexpr uint32_t MAX_GRAIN_PROCESSES = 65'536;
constexpr size_t MAX_CONFIG_BYTES = 1 << 20;           // a config file is a few hundred bytes
constexpr size_t MAX_VALUE_BYTES = 4096;

struct Ignored {
  const char* key;
  const char* reason;
};
// Keys from Sandstorm's sandstorm.conf that have no meaning here. Ignoring them (with a
// warning) lets an old file keep working.
constexpr Ignored IGNORED_KEYS[] = {
    {"MONGO_PORT", "there is no MongoDB: the store is SQLite in DATA_DIR"},
    {"SANDCATS_BASE_DOMAIN", "sandcats.io dynamic DNS is not supported"},
    {"SANDCATS_HTTPS_PORT", "sandcats.io is not supported"},
    {"DDP_DEFAULT_CONNECTION_URL", "there is no Meteor/DDP"},
    {"MAIL_URL", "outgoing mail is not supported yet"},
    {"SMTP_LISTEN_PORT", "incoming mail is not supported yet"},
    {"WILDCARD_PARENT_URL", "use WILDCARD_HOST"},
    {"UPDATE_CHANNEL", "updates are installed with `sandstorm update <bundle>`"},
    {"ALLOW_DEV_ACCOUNTS", "dev accounts do not exist here"},
    {"ALLOW_DEMO_ACCOUNTS", "demo accounts do not exist here"},
    {"IS_TESTING", "no test mode"},
    {"HIDE_TROUBLESHOOTING", "no such page"},
    {"EXPERIMENTAL_GATEWAY", "always on"},
    {"USE_EXPERIMENTAL_GATEWAY", "always on"},
};

constexpr const char* KNOWN_KEYS[] = {
    "SERVER_USER", "PORT", "BIND_IP", "BASE_URL", "WILDCARD_HOST", "DATA_DIR", "GRAIN_PORTS",
    "IDLE_TIMEOUT_SECONDS", "GRAIN_TIMEOUT_SECONDS", "SEND_TIMEOUT_SECONDS", "LOG_FORMAT",
    "METRICS_BIND", "GRAIN_MEMORY_MIB", "GRAIN_MAX_PROCESSES", "INSTALL_DEMO_APPS", "UI_DIR",
    "DEMO_APPS_DIR",
};

kj::Maybe<uint64_t> parseNumber(kj::StringPtr text, uint64_t min, uint64_t max) {
  if (text.size() == 0 || text.size() > 20) return nullptr;
  uint64_t n = 0;
  for (char c: text) {
    if (c < '0' || c > '9') return nullptr;
    n = n * 10 + uint64_t(c - '0');
    if (n > max) return nullptr;
  }
  if (n < min) return nullptr;
  return n;
}

bool validIp(kj::StringPtr text) {
  in6_addr ignored;
  return inet_pton(AF_INET, text.cStr(), &ignored) == 1 ||
         inet_pton(AF_INET6, text.cStr(), &ignored) == 1;
}

bool validHostChars(kj::StringPtr host) {
  // A DNS name (letters, digits, '-', '.') or an IPv6 literal in brackets.
  if (host.size() == 0) return false;
  if (host.startsWith("[")) {
    return host.endsWith("]") && validIp(kj::str(host.slice(1, host.size() - 1)));
  }
  for (char c: host) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '.')) {
      return false;
    }
  }
  return true;
}

kj::Maybe<kj::String> checkBaseUrl(kj::StringPtr url) {
  kj::StringPtr rest;
  if (url.startsWith("http://")) {
    rest = url.slice(7);
  } else if (url.startsWith("https://")) {
    rest = url.slice(8);
  } else {
    return kj::str("must start with http:// or https:// (e.g. https://sandstorm.example.com)");
  }
  if (rest.findFirst('/') != nullptr) return kj::str("must not have a path (no '/' after the host)");
  kj::StringPtr host = rest;
  kj::String hostCopy;
  // host[:port]; an IPv6 literal keeps its brackets.
  KJ_IF_MAYBE(colon, rest.findLast(':')) {
    bool bareIpv6 = rest.startsWith("[") && rest.endsWith("]");  // [::1] has no port
    if (!bareIpv6) {
      auto portText = rest.slice(*colon + 1);
      if (parseNumber(portText, 1, 65535) == nullptr) return kj::str("has a bad port");
      hostCopy = kj::str(rest.slice(0, *colon));
      host = hostCopy;
    }
  }
  if (!validHostChars(host)) return kj::str("has a bad host name");
  return nullptr;
}

kj::Maybe<kj::String> checkWildcard(kj::StringPtr value) {
  size_t stars = 0;
  for (char c: value) stars += c == '*';
  if (stars != 1) return kj::str("must contain exactly one '*' (e.g. *.example.com)");
  if (!value.startsWith("*.")) {
    return kj::str("must start with '*.' (only a whole first label is supported: *.example.com)");
  }
  if (value.findFirst(':') != nullptr) {
    return kj::str("must not have a port: grains are served at https://grain-<port>.<domain>/ "
                   "by a TLS proxy on 443 (docs/nginx-example.conf)");
  }
  auto domain = value.slice(2);
  if (domain.size() == 0 || domain.findFirst('.') == nullptr || !validHostChars(domain)) {
    return kj::str("must look like *.example.com");
  }
  return nullptr;
}

kj::Maybe<kj::String> checkUserName(kj::StringPtr name) {
  // Debian's adduser default NAME_REGEX, roughly: starts with a letter or '_'.
  if (name.size() == 0 || name.size() > 32) return kj::str("must be a user name of 1-32 characters");
  for (size_t i = 0; i < name.size(); i++) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || c == '_' ||
              (i > 0 && ((c >= '0' && c <= '9') || c == '-'));
    if (!ok) return kj::str("must be a user name (lower-case letters, digits, '-', '_')");
  }
  return nullptr;
}

kj::StringPtr trim(kj::StringPtr text, kj::String& storage) {
  size_t begin = 0, end = text.size();
  while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) begin++;
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r')) {
    end--;
  }
  storage = kj::str(text.slice(begin, end));
  return storage;
}

[[noreturn]] void fail(kj::StringPtr fileName, size_t line, kj::StringPtr message) {
  // The description is the whole message: callers print it as is.
  kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                                        kj::str(fileName, ":", line, ": ", message)));
}

}  // namespace

kj::Maybe<ListenAddress> parseListenAddress(kj::StringPtr text) {
  KJ_IF_MAYBE(colon, text.findLast(':')) {
    kj::String host = kj::heapString(text.slice(0, *colon).begin(), *colon);
    kj::StringPtr portText = text.slice(*colon + 1);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = kj::heapString(host.begin() + 1, host.size() - 2);
    } else if (host.findFirst(':') != nullptr) {
      return nullptr;  // IPv6 needs brackets: "[::1]:9116"
    }
    char* end;
    unsigned long port = strtoul(portText.cStr(), &end, 10);
    if (host.size() == 0 || portText.size() == 0 || *end != '\0' || port > 65535) {
      return nullptr;
    }
    in6_addr ignored;
    if (inet_pton(AF_INET, host.cStr(), &ignored) != 1 &&
        inet_pton(AF_INET6, host.cStr(), &ignored) != 1) {
      return nullptr;
    }
    return ListenAddress{kj::mv(host), uint16_t(port)};
  }
  return nullptr;
}


bool isKnownKey(kj::StringPtr key) {
  for (auto known: KNOWN_KEYS) {
    if (key == known) return true;
  }
  return false;
}

kj::Maybe<kj::StringPtr> ignoredKeyReason(kj::StringPtr key) {
  for (auto& ignored: IGNORED_KEYS) {
    if (key == ignored.key) return kj::StringPtr(ignored.reason);
  }
  return nullptr;
}

kj::Maybe<kj::String> applySetting(Config& config, kj::StringPtr key, kj::StringPtr value) {
  if (value.size() > MAX_VALUE_BYTES) return kj::str("value is too long");
  for (char c: value) {
    if (c < 0x20 || c == 0x7f) return kj::str("value has a control character");
  }
  auto seconds = [&](kj::Maybe<uint64_t>& field) -> kj::Maybe<kj::String> {
    KJ_IF_MAYBE(n, parseNumber(value, 1, MAX_TIMEOUT_SECONDS)) {
      field = *n;
      return nullptr;
    }
    return kj::str("must be a number of seconds from 1 to ", MAX_TIMEOUT_SECONDS);
  };
  auto path = [&](kj::Maybe<kj::String>& field) -> kj::Maybe<kj::String> {
    if (!value.startsWith("/")) return kj::str("must be an absolute path (starting with /)");
    field = kj::heapString(value);
    return nullptr;
  };

  if (key == "SERVER_USER") {
    KJ_IF_MAYBE(why, checkUserName(value)) return kj::mv(*why);
    config.serverUser = kj::heapString(value);
  } else if (key == "PORT") {
    if (value.findFirst(',') != nullptr) {
      return kj::str("only one port is supported (Sandstorm's alternate ports are not)");
    }
    KJ_IF_MAYBE(n, parseNumber(value, 0, 65535)) {
      config.port = uint16_t(*n);
    } else {
      return kj::str("must be a port number from 0 to 65535 (0 picks a free port)");
    }
  } else if (key == "BIND_IP") {
    if (!validIp(value)) return kj::str("must be an IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::)");
    config.bindIp = kj::heapString(value);
  } else if (key == "BASE_URL") {
    auto copy = kj::heapString(value.slice(0, value.size() - (value.endsWith("/") ? 1 : 0)));
    KJ_IF_MAYBE(why, checkBaseUrl(copy)) return kj::mv(*why);
    config.baseUrl = kj::mv(copy);
  } else if (key == "WILDCARD_HOST") {
    KJ_IF_MAYBE(why, checkWildcard(value)) return kj::mv(*why);
    config.wildcardHost = kj::heapString(value);
  } else if (key == "DATA_DIR") {
    return path(config.dataDir);
  } else if (key == "UI_DIR") {
    return path(config.uiDir);
  } else if (key == "DEMO_APPS_DIR") {
    return path(config.demoAppsDir);
  } else if (key == "GRAIN_PORTS") {
    auto bad = [] { return kj::str("must be a range of ports like 7000-7099"); };
    KJ_IF_MAYBE(dash, value.findFirst('-')) {
      auto first = parseNumber(kj::str(value.slice(0, *dash)), 1, 65535);
      auto last = parseNumber(value.slice(*dash + 1), 1, 65535);
      KJ_IF_MAYBE(f, first) {
        KJ_IF_MAYBE(l, last) {
          if (*l < *f) return bad();
          config.grainPorts = PortRange{uint16_t(*f), uint16_t(*l - *f + 1)};
          return nullptr;
        }
      }
    }
    return bad();
  } else if (key == "IDLE_TIMEOUT_SECONDS") {
    return seconds(config.idleTimeoutSeconds);
  } else if (key == "GRAIN_TIMEOUT_SECONDS") {
    return seconds(config.grainTimeoutSeconds);
  } else if (key == "SEND_TIMEOUT_SECONDS") {
    return seconds(config.sendTimeoutSeconds);
  } else if (key == "LOG_FORMAT") {
    if (value != "text" && value != "json") return kj::str("must be text or json");
    config.logFormat = kj::heapString(value);
  } else if (key == "METRICS_BIND") {
    if (parseListenAddress(value) == nullptr) {
      return kj::str("must be <ip>:<port>, e.g. 127.0.0.1:9116 or [::1]:9116");
    }
    config.metricsBind = kj::heapString(value);
  } else if (key == "GRAIN_MEMORY_MIB") {
    KJ_IF_MAYBE(n, parseNumber(value, MIN_GRAIN_MEMORY_MIB, MAX_GRAIN_MEMORY_MIB)) {
      config.grainMemoryMib = *n;
    } else {
      return kj::str("must be a number of MiB from ", MIN_GRAIN_MEMORY_MIB, " to ",
                     MAX_GRAIN_MEMORY_MIB);
    }
  } else if (key == "GRAIN_MAX_PROCESSES") {
    KJ_IF_MAYBE(n, parseNumber(value, MIN_GRAIN_PROCESSES, MAX_GRAIN_PROCESSES)) {
      config.grainMaxProcesses = uint32_t(*n);
    } else {
      return kj::str("must be a number from ", MIN_GRAIN_PROCESSES, " to ", MAX_GRAIN_PROCESSES);
    }
  } else if (key == "INSTALL_DEMO_APPS") {
    if (value == "true" || value == "yes") {
      config.installDemoApps = true;
    } else if (value == "false" || value == "no") {
      config.installDemoApps = false;
    } else {
      return kj::str("must be true, false, yes or no");
    }
  } else {
    return kj::str("unknown key");
  }
  return nullptr;
}

void Config::overrideWith(Config&& other) {
  auto take = [](auto& mine, auto& theirs) {
    if (theirs != nullptr) mine = kj::mv(theirs);
  };
  take(serverUser, other.serverUser);
  take(port, other.port);
  take(bindIp, other.bindIp);
  take(baseUrl, other.baseUrl);
  take(wildcardHost, other.wildcardHost);
  take(dataDir, other.dataDir);
  take(grainPorts, other.grainPorts);
  take(idleTimeoutSeconds, other.idleTimeoutSeconds);
  take(grainTimeoutSeconds, other.grainTimeoutSeconds);
  take(sendTimeoutSeconds, other.sendTimeoutSeconds);
  take(logFormat, other.logFormat);
  take(metricsBind, other.metricsBind);
  take(grainMemoryMib, other.grainMemoryMib);
  take(grainMaxProcesses, other.grainMaxProcesses);
  take(installDemoApps, other.installDemoApps);
  take(uiDir, other.uiDir);
  take(demoAppsDir, other.demoAppsDir);
  for (auto& w: other.warnings) warnings.add(kj::mv(w));
}

Config parseConfig(kj::StringPtr text, kj::StringPtr fileName) {
  Config config;
  kj::Vector<kj::String> seen;  // keys so far, by line: a key set twice is a mistake
  kj::Vector<size_t> seenLines;
  size_t lineNo = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    lineNo++;
    size_t end = pos;
    while (end < text.size() && text[end] != '\n') end++;
    auto raw = kj::str(kj::arrayPtr(text.begin() + pos, end - pos));
    pos = end + 1;
    if (raw.size() != strlen(raw.cStr())) fail(fileName, lineNo, "a NUL byte in the line");
    kj::String storage;
    kj::StringPtr line = trim(raw, storage);
    if (line.size() == 0 || line.startsWith("#")) continue;

    auto eq = line.findFirst('=');
    if (eq == nullptr) {
      fail(fileName, lineNo, kj::str("expected KEY=VALUE, got \"", line, "\""));
    }
    size_t at = KJ_ASSERT_NONNULL(eq);
    kj::String keyStorage, valueStorage;
    kj::StringPtr key = trim(kj::str(line.slice(0, at)), keyStorage);
    kj::StringPtr value = trim(line.slice(at + 1), valueStorage);
    // Sandstorm's files are also read by shell scripts, where KEY="value" is common.
    if (value.size() >= 2 && ((value.startsWith("\"") && value.endsWith("\"")) ||
                              (value.startsWith("'") && value.endsWith("'")))) {
      valueStorage = kj::str(value.slice(1, value.size() - 1));
      value = valueStorage;
    }
    if (key.size() == 0) fail(fileName, lineNo, "a line starts with '=': the key is missing");

    KJ_IF_MAYBE(reason, ignoredKeyReason(key)) {
      config.warnings.add(kj::str(fileName, ":", lineNo, ": ", key, " is ignored (", *reason, ")"));
      continue;
    }
    if (!isKnownKey(key)) {
      kj::Vector<kj::StringPtr> names;
      for (auto known: KNOWN_KEYS) names.add(known);
      fail(fileName, lineNo,
           kj::str("unknown key ", key, " (known keys: ", kj::strArray(names, ", "), ")"));
    }
    for (size_t i = 0; i < seen.size(); i++) {
      if (seen[i] == key) {
        fail(fileName, lineNo, kj::str(key, " is set twice (also on line ", seenLines[i], ")"));
      }
    }
    seen.add(kj::heapString(key));
    seenLines.add(lineNo);
    KJ_IF_MAYBE(why, applySetting(config, key, value)) {
      fail(fileName, lineNo, kj::str(key, "=", value, ": ", *why));
    }
  }
  return config;
}

Config readConfigFile(kj::StringPtr path) {
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
        kj::str("cannot read the config file ", path, ": ", strerror(error))));
  }
  AutoCloseFd file(fd);
  kj::Vector<char> text;
  char buffer[8192];
  for (;;) {
    ssize_t n;
    KJ_SYSCALL(n = read(file.get(), buffer, sizeof(buffer)), path);
    if (n == 0) break;
    text.addAll(kj::arrayPtr(buffer, n));
    KJ_REQUIRE(text.size() <= MAX_CONFIG_BYTES, "the config file is too large", path);
  }
  text.add('\0');
  return parseConfig(kj::StringPtr(text.begin(), text.size() - 1), path);
}

}  // namespace ss::cli
