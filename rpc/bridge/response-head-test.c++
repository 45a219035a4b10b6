#include "rpc/bridge/response-head.h"

#include <string>

#include "tests/test-support.h"

namespace ss::bridge {
namespace {

HeadParse parse(const std::string& s, ResponseHead& head) {
  return parseResponseHead(kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size()),
                           head);
}

TEST_CASE("a response head is parsed with headers in order and spelling", "[bridge]") {
  ResponseHead head;
  std::string text =
      "HTTP/1.1 302 Found\r\nLocation: /x\r\nX-A:  spaced  \r\nContent-Length: 5\r\n\r\nhello";
  auto r = parse(text, head);
  REQUIRE(r.kind == HeadParse::COMPLETE);
  CHECK(r.headBytes == text.size() - 5);
  CHECK(head.status == 302);
  REQUIRE(head.headers.size() == 3);
  CHECK(head.headers[0].name == "Location");
  CHECK(head.headers[1].value == "spaced");
  CHECK(head.contentLength == uint64_t(5));
  CHECK(head.keepAlive);
  CHECK(bodyFraming(head, false) == BodyFraming::LENGTH);
  CHECK(bodyFraming(head, true) == BodyFraming::NONE);
}

TEST_CASE("an incomplete head asks for more", "[bridge]") {
  ResponseHead head;
  CHECK(parse("HTTP/1.1 200 OK\r\nA: b\r\n", head).kind == HeadParse::INCOMPLETE);
  CHECK(parse("HTTP/1.1 200 OK\r\nA: b\r", head).kind == HeadParse::INCOMPLETE);
}

TEST_CASE("response heads that could inject or desync are refused", "[bridge]") {
  ResponseHead head;
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\nA: b\rX: y\r\n\r\n",               // bare CR
      "HTTP/1.1 200 OK\nA: b\r\n\r\n",                        // bare LF
      "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",           // obs-fold
      "HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n",                  // control byte
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
      "garbage\r\n\r\n",
  };
  for (auto b : bad) {
    CAPTURE(b);
    CHECK(parse(b, head).kind == HeadParse::ERROR);
  }
  std::string huge = "HTTP/1.1 200 OK\r\nX: " + std::string(70000, 'a');
  CHECK(parse(huge, head).kind == HeadParse::ERROR);
}

TEST_CASE("framing follows RFC 9112 section 6.3", "[bridge]") {
  ResponseHead head;
  REQUIRE(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", head).kind ==
          HeadParse::COMPLETE);
  CHECK(bodyFraming(head, false) == BodyFraming::CHUNKED);
  REQUIRE(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", head).kind ==
          HeadParse::COMPLETE);
  CHECK(bodyFraming(head, false) == BodyFraming::UNTIL_CLOSE);
  REQUIRE(parse("HTTP/1.1 200 OK\r\n\r\n", head).kind == HeadParse::COMPLETE);
  CHECK(bodyFraming(head, false) == BodyFraming::UNTIL_CLOSE);
  REQUIRE(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", head).kind ==
          HeadParse::COMPLETE);
  CHECK(bodyFraming(head, false) == BodyFraming::NONE);
  REQUIRE(parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", head).kind ==
          HeadParse::COMPLETE);
  CHECK(!head.keepAlive);
  REQUIRE(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", head)
              .kind == HeadParse::COMPLETE);
  CHECK(head.keepAlive);
  REQUIRE(parse("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", head).kind ==
          HeadParse::COMPLETE);
  CHECK(!head.keepAlive);
}

TEST_CASE("hop-by-hop headers including those Connection names are recognised", "[bridge]") {
  ResponseHead head;
  REQUIRE(parse("HTTP/1.1 200 OK\r\nConnection: X-Secret, close\r\nX-Secret: 1\r\n\r\n", head)
              .kind == HeadParse::COMPLETE);
  CHECK(head.isHopByHop("x-secret"));
  CHECK(head.isHopByHop("Keep-Alive"));
  CHECK(head.isHopByHop("Proxy-Authenticate"));
  CHECK(head.isHopByHop("content-length"));
  CHECK(!head.isHopByHop("Set-Cookie"));
}

}  // namespace
}  // namespace ss::bridge
