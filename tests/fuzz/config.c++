// sandstorm.conf (cli/server-config.h): parseConfig() over arbitrary text, and the listen-address
// parser it shares with --metrics-listen. Oracles: a refusal's message is exactly
// "<file>:<line>: <what>" with a line that exists; the same text always gives the same answer;
// an address that parses re-parses to itself when printed back.
#include <string.h>

#include <kj/debug.h>

#include "cli/server-config.h"
#include "tests/fuzz/fuzz.h"

namespace {

using namespace ss::cli;

kj::Maybe<kj::String> refusal(kj::StringPtr text) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { parseConfig(text, "fuzz.conf"); })) {
    return kj::str(e->getDescription());
  }
  return nullptr;
}

void checkRefusal(kj::StringPtr message, kj::StringPtr text) {
  FUZZ_CHECK(message.startsWith("fuzz.conf:"));
  size_t lines = 1;
  for (char c: text) lines += c == '\n';
  auto rest = message.slice(strlen("fuzz.conf:"));
  size_t line = 0;
  size_t i = 0;
  while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') line = line * 10 + (rest[i++] - '0');
  FUZZ_CHECK(i > 0 && line >= 1 && line <= lines);
  FUZZ_CHECK(i + 2 <= rest.size() && rest[i] == ':' && rest[i + 1] == ' ');
}

}  // namespace

SS_FUZZ_TARGET("config") {
  auto text = kj::heapString(reinterpret_cast<const char*>(data), size);
  auto first = refusal(text);
  auto second = refusal(text);
  KJ_IF_MAYBE(m, first) {
    checkRefusal(*m, text);
    KJ_IF_MAYBE(m2, second) { FUZZ_CHECK(*m == *m2); } else { FUZZ_CHECK(false); }
  } else {
    FUZZ_CHECK(second == nullptr);
  }

  // The first line as a listen address (what METRICS_BIND and --metrics-listen take).
  size_t eol = 0;
  while (eol < text.size() && text[eol] != '\n') eol++;
  auto line = kj::heapString(text.begin(), eol);
  KJ_IF_MAYBE(address, parseListenAddress(line)) {
    FUZZ_CHECK(address->host.size() > 0);
    bool v6 = address->host.findFirst(':') != nullptr;
    auto printed = v6 ? kj::str("[", address->host, "]:", address->port)
                      : kj::str(address->host, ":", address->port);
    auto again = KJ_ASSERT_NONNULL(parseListenAddress(printed));
    FUZZ_CHECK(again.host == address->host && again.port == address->port);
  }
  return 0;
}
