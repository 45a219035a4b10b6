// What a grain sends back for a request: a WebSession.Response message (rpc/web-session.capnp),
// decoded from the fuzz bytes as a flat capnp message under tight reader limits, converted by the
// daemon's own code (shell/grain-response.h) and formatted by the HTTP layer's
// (http/response.h), exactly the path grain-gateway.c++ takes.
// The rule: a hostile grain must not crash the daemon or shape the response's framing. Oracles
// on the bytes that would go to the browser: a final status (200-599); every header line is
// "token: value" with no CR, LF or NUL inside; one Content-Length at most and only ours; no
// Transfer-Encoding or Connection from the grain; the head ends exactly once.
#include <stdlib.h>
#include <string.h>

#include <string>
#include <string_view>

#include <capnp/serialize.h>
#include <kj/debug.h>

#include "http/request.h"
#include "http/response.h"
#include "shell/grain-response.h"
#include "tests/fuzz/fuzz.h"

namespace {

using ss::shell::GrainResponse;

constexpr std::string_view PLATFORM_HEADERS = "Content-Security-Policy: default-src 'self'\r\n";

void checkHead(std::string_view text, const GrainResponse& r, bool headRequest) {
  size_t end = text.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string_view::npos);
  std::string_view head = text.substr(0, end + 2);
  FUZZ_CHECK(head.substr(0, 9) == "HTTP/1.1 ");
  int contentLengths = 0;
  bool first = true;
  while (!head.empty()) {
    size_t eol = head.find("\r\n");
    FUZZ_CHECK(eol != std::string_view::npos);
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    for (char c: line) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
    if (first) {
      first = false;
      continue;
    }
    size_t colon = line.find(':');
    FUZZ_CHECK(colon != std::string_view::npos && colon > 0);
    auto name = line.substr(0, colon);
    FUZZ_CHECK(ss::shell::isToken(name));
    FUZZ_CHECK(line.size() >= colon + 2 && line[colon + 1] == ' ');
    if (ss::http::equalsIgnoreCase(name, "Content-Length")) contentLengths++;
    FUZZ_CHECK(!ss::http::equalsIgnoreCase(name, "Transfer-Encoding"));
  }
  FUZZ_CHECK(contentLengths <= 1);
  if (r.body == GrainResponse::Body::INLINE && !headRequest &&
      !ss::http::statusHasNoBody(r.status)) {
    FUZZ_CHECK(text.size() - (end + 4) == r.inlineBody.size());
  }
}

}  // namespace

SS_FUZZ_TARGET("grain-response") {
  if (size < 1) return 0;
  bool headRequest = data[0] & 1;
  // capnp reads words in place: copy into aligned memory (as the RPC layer's buffers are).
  size_t words = (size - 1) / sizeof(capnp::word);
  auto buffer = kj::heapArray<capnp::word>(words);
  memcpy(buffer.begin(), data + 1, words * sizeof(capnp::word));

  capnp::ReaderOptions options;
  options.traversalLimitInWords = 64 * 1024;
  options.nestingLimit = 16;
  static ss::http::DateCache date;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    capnp::FlatArrayMessageReader message(buffer, options);
    auto response = message.getRoot<ss::rpc::WebSession::Response>();
    GrainResponse out = ss::shell::translateResponse(response, headRequest);
    FUZZ_CHECK(out.status >= 200 && out.status <= 599);
    FUZZ_CHECK(out.length >= -1);
    std::string text;
    if (out.body == GrainResponse::Body::INLINE) {
      ss::http::appendResponse(text, date, out.status, out.headers.begin(), out.headers.size(),
                               PLATFORM_HEADERS, out.inlineBody, headRequest, false);
    } else {
      ss::http::appendResponseHead(text, date, out.status, out.headers.begin(),
                                   out.headers.size(), PLATFORM_HEADERS, out.length,
                                   out.length < 0, false);
    }
    checkHead(text, out, headRequest);
  })) {
    // Refused (malformed message, unsafe header): the gateway answers 502.
    if (getenv("SS_FUZZ_VERBOSE") != nullptr) fprintf(stderr, "  refused: %s\n", e->getDescription().cStr());
  }
  return 0;
}
