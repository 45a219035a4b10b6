// HTTP request framing: our strict head parser (with llhttp under it) and chunked decoding, over
// a stream of pipelined requests, as http/connection.c++ consumes them.
// Oracles (besides ASan/UBSan): every view points into the input; a COMPLETE head's fields obey
// the rules head-parser.h promises; a prefix that parses COMPLETE parses the same as the whole
// (no decision depends on bytes after the head); the chunked decoder gives the same body, state
// and consumed count whether fed at once or split at an input-chosen point.
#include <string.h>

#include <string>
#include <string_view>

#include "http/chunked.h"
#include "http/head-parser.h"
#include "tests/fuzz/fuzz.h"

namespace {

using namespace ss::http;

bool within(std::string_view inner, std::string_view outer) {
  return inner.empty() ||
         (inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size());
}

void checkRequest(const Request& r, std::string_view head) {
  FUZZ_CHECK(within(r.method, head) && within(r.target, head) && within(r.host, head));
  FUZZ_CHECK(!r.method.empty() && !r.target.empty() && !r.host.empty());
  FUZZ_CHECK(r.versionMinor <= 1);
  FUZZ_CHECK(r.headerCount <= ss::limits::MAX_HEADER_COUNT);
  FUZZ_CHECK(r.method != "CONNECT");
  for (auto& h: r) {
    FUZZ_CHECK(within(h.name, head) && within(h.value, head));
    FUZZ_CHECK(!h.name.empty());
    for (char c: h.name) FUZZ_CHECK(c > 0x20 && c != ':' && c != 0x7f);
    for (char c: h.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
  }
  int hosts = 0;
  for (auto& h: r) hosts += equalsIgnoreCase(h.name, "Host");
  FUZZ_CHECK(hosts == 1);
  if (r.framing == BodyFraming::CHUNKED) {
    FUZZ_CHECK(r.versionMinor == 1);
    FUZZ_CHECK(r.find("Content-Length") == nullptr);
  }
  if (r.websocketUpgrade) FUZZ_CHECK(r.isGet() && r.versionMinor == 1);
}

struct Decoded {
  ChunkedDecoder::State state;
  size_t consumed;
  std::string body;
};

Decoded decodeChunked(std::string_view input, size_t split) {
  ChunkedDecoder d;
  Decoded out{ChunkedDecoder::State::MORE, 0, {}};
  auto sink = [&](std::string_view data) { out.body.append(data); };
  auto first = d.feed(input.substr(0, split), sink);
  out.state = first.state;
  out.consumed = first.consumed;
  if (first.state == ChunkedDecoder::State::MORE) {
    FUZZ_CHECK(first.consumed == split);
    auto second = d.feed(input.substr(split), sink);
    out.state = second.state;
    out.consumed += second.consumed;
  }
  FUZZ_CHECK(out.consumed <= input.size());
  FUZZ_CHECK(d.bodyBytes() == out.body.size());
  return out;
}

}  // namespace

SS_FUZZ_TARGET("http-request") {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // Up to 8 pipelined requests: enough to reach "after a body" states; bounded work per input.
  for (int n = 0; n < 8 && !input.empty(); n++) {
    static Request request;  // large (100 headers): not on the stack each run
    request = Request();
    auto result = parseHead(input, request);
    if (result.kind == HeadResult::ERROR) {
      FUZZ_CHECK(result.status >= 400 && result.status <= 505);
      FUZZ_CHECK(result.reason != nullptr && *result.reason != '\0');
      return 0;
    }
    if (result.kind == HeadResult::INCOMPLETE) return 0;
    FUZZ_CHECK(result.headBytes > 0 && result.headBytes <= input.size());
    std::string_view head = input.substr(0, result.headBytes);
    checkRequest(request, head);

    // The head alone parses the same (nothing after it was looked at).
    static Request again;
    again = Request();
    auto alone = parseHead(head, again);
    FUZZ_CHECK(alone.kind == HeadResult::COMPLETE && alone.headBytes == result.headBytes);
    FUZZ_CHECK(again.framing == request.framing && again.contentLength == request.contentLength);
    FUZZ_CHECK(again.headerCount == request.headerCount && again.target == request.target);
    // One byte short is never complete.
    static Request shorter;
    shorter = Request();
    FUZZ_CHECK(parseHead(head.substr(0, head.size() - 1), shorter).kind != HeadResult::COMPLETE);

    input.remove_prefix(result.headBytes);
    if (request.framing == BodyFraming::LENGTH) {
      if (request.contentLength > input.size()) return 0;
      input.remove_prefix(request.contentLength);
    } else if (request.framing == BodyFraming::CHUNKED) {
      auto whole = decodeChunked(input, input.size());
      size_t split = input.empty() ? 0 : static_cast<uint8_t>(input[0]) % (input.size() + 1);
      auto parts = decodeChunked(input, split);
      FUZZ_CHECK(whole.state == parts.state);
      FUZZ_CHECK(whole.body == parts.body);
      if (whole.state != ChunkedDecoder::State::DONE) return 0;
      FUZZ_CHECK(whole.consumed == parts.consumed);
      input.remove_prefix(whole.consumed);
    }
  }
  return 0;
}
