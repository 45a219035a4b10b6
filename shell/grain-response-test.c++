// translateResponse(): what a hostile grain's response may and may not do to the HTTP response.
#include <catch2/catch.hpp>

#include <capnp/message.h>

#include "shell/grain-response.h"

namespace ss::shell {
namespace {

using Builder = rpc::WebSession::Response::Builder;

void setHeaders(Builder response, std::initializer_list<std::pair<const char*, const char*>> hs) {
  auto list = response.initRawHeaders(hs.size());
  size_t i = 0;
  for (auto& h: hs) {
    list[i].setName(h.first);
    list[i].setValue(h.second);
    i++;
  }
}

TEST_CASE("a grain cannot split the response with CR/LF in a header or a redirect", "[shell]") {
  capnp::MallocMessageBuilder message;
  auto response = message.initRoot<rpc::WebSession::Response>();
  response.setRawStatus(200);
  response.initContent().getBody().setBytes(kj::StringPtr("x").asBytes());
  setHeaders(response, {{"X-A", "1\r\nSet-Cookie: evil=1"}});
  REQUIRE_THROWS(translateResponse(response.asReader(), false));
  setHeaders(response, {{"X A", "1"}});
  REQUIRE_THROWS(translateResponse(response.asReader(), false));
  setHeaders(response, {{"", "1"}});
  REQUIRE_THROWS(translateResponse(response.asReader(), false));

  capnp::MallocMessageBuilder redirect;
  auto r = redirect.initRoot<rpc::WebSession::Response>();
  r.initRedirect().setLocation("/a\r\nX: y");
  REQUIRE_THROWS(translateResponse(r.asReader(), false));
}

TEST_CASE("framing headers from a grain are dropped; the HTTP layer owns them", "[shell]") {
  capnp::MallocMessageBuilder message;
  auto response = message.initRoot<rpc::WebSession::Response>();
  response.setRawStatus(200);
  response.initContent().getBody().setBytes(kj::StringPtr("hello").asBytes());
  setHeaders(response, {{"Content-Length", "100"}, {"content-type", "text/plain"},
                        {"Transfer-Encoding", "chunked"}, {"Connection", "keep-alive"},
                        {"date", "yesterday"}, {"Set-Cookie", "a=b"}});
  auto out = translateResponse(response.asReader(), false);
  REQUIRE(out.headers.size() == 2);
  CHECK(out.headers[0].name == "content-type");
  CHECK(out.headers[1].name == "Set-Cookie");
  CHECK(out.inlineBody == "hello");
}

TEST_CASE("a grain's 1xx or out-of-range status becomes 502", "[shell]") {
  // A final 1xx would make the browser wait for another response and take the next pipelined
  // one for it.
  for (uint16_t status: {100, 101, 103, 199, 600, 999}) {
    capnp::MallocMessageBuilder message;
    auto response = message.initRoot<rpc::WebSession::Response>();
    response.setRawStatus(status);
    response.initContent();
    CAPTURE(status);
    CHECK(translateResponse(response.asReader(), false).status == 502);
  }
}

TEST_CASE("a negative body length means unknown", "[shell]") {
  capnp::MallocMessageBuilder message;
  auto response = message.initRoot<rpc::WebSession::Response>();
  response.setRawStatus(200);
  response.initContent().setBodyLength(-12345);
  auto out = translateResponse(response.asReader(), true);
  CHECK(out.body == GrainResponse::Body::HEAD_ONLY);
  CHECK(out.length == -1);
}

TEST_CASE("a refused response head leaves the connection's output untouched", "[shell]") {
  // Exchange::respond() appends to the connection's buffer, which may hold earlier pipelined
  // responses: a head refused halfway must not leave a partial head there.
  std::string out = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  std::string before = out;
  http::DateCache date;
  http::HeaderOut headers[] = {{"X-Good", "1"}, {"X-Bad", "a\r\nb"}};
  REQUIRE_THROWS(http::appendResponse(out, date, 200, headers, 2, {}, "body", false, false));
  CHECK(out == before);
}

}  // namespace
}  // namespace ss::shell
