#include "rpc/bridge/response-head.h"

#include <kj/debug.h>

#include "tests/test-support.h"

using ss::bridge::BodyFraming;
using ss::bridge::HeadParse;
using ss::bridge::ResponseHead;

namespace {
HeadParse parse(kj::StringPtr text, ResponseHead& head) {
  return ss::bridge::parseResponseHead(text.asBytes(), head);
}
}  // namespace

TEST_CASE("a normal response head parses, with hop-by-hop headers recognised", "[bridge]") {
  ResponseHead head;
  kj::StringPtr text = "HTTP/1.1 302 Found\r\nLocation: /x\r\nConnection: keep-alive, X-Hop\r\n"
                       "X-Hop: 1\r\nContent-Length: 5\r\n\r\nhello";
  auto result = parse(text, head);
  REQUIRE(result.kind == HeadParse::COMPLETE);
  CHECK(result.headBytes == text.size() - 5);
  CHECK(head.status == 302);
  CHECK(KJ_ASSERT_NONNULL(head.find("location")) == "/x");
  CHECK(KJ_ASSERT_NONNULL(head.contentLength) == 5);
  CHECK(head.isHopByHop("Connection"));
  CHECK(head.isHopByHop("x-hop"));          // listed in Connection
  CHECK(head.isHopByHop("Content-Length"));  // travels as bodyLength
  CHECK(!head.isHopByHop("Location"));
  CHECK(ss::bridge::bodyFraming(head, false) == BodyFraming::LENGTH);
  CHECK(ss::bridge::bodyFraming(head, true) == BodyFraming::NONE);  // answer to a HEAD
}

TEST_CASE("partial heads are incomplete at every split point", "[bridge]") {
  kj::StringPtr text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t i = 0; i < text.size(); i++) {
    ResponseHead head;
    CAPTURE(i);
    CHECK(ss::bridge::parseResponseHead(text.asBytes().slice(0, i), head).kind ==
          HeadParse::INCOMPLETE);
  }
  ResponseHead head;
  REQUIRE(parse(text, head).kind == HeadParse::COMPLETE);
  CHECK(ss::bridge::bodyFraming(head, false) == BodyFraming::CHUNKED);
}

TEST_CASE("an app cannot inject headers or smuggle framing", "[bridge]") {
  for (kj::StringPtr text: {
           "HTTP/1.1 200 OK\r\nX: a\rSet-Cookie: evil\r\n\r\n",       // bare CR
           "HTTP/1.1 200 OK\nX: a\n\n",                               // bare LF
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nX: a\x01" "b\r\n\r\n",                 // control byte
       }) {
    ResponseHead head;
    CAPTURE(text);
    CHECK(parse(text, head).kind == HeadParse::ERROR);
  }
}

TEST_CASE("no Content-Length and no chunked means the body runs until close", "[bridge]") {
  ResponseHead head;
  REQUIRE(parse("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", head).kind ==
          HeadParse::COMPLETE);
  CHECK(ss::bridge::bodyFraming(head, false) == BodyFraming::UNTIL_CLOSE);
  ResponseHead noBody;
  REQUIRE(parse("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", noBody).kind ==
          HeadParse::COMPLETE);
  CHECK(ss::bridge::bodyFraming(noBody, false) == BodyFraming::NONE);
}
