#include "rpc/bridge/request-head.h"

#include <capnp/message.h>

#include <string>

#include "tests/test-support.h"

namespace ss::bridge {
namespace {

using rpc::WebSession;

struct Fixture {
  capnp::MallocMessageBuilder message;
  WebSession::Context::Builder context = message.initRoot<WebSession::Context>();
  SessionHeaders session;

  Fixture(bool loggedIn = true) {
    capnp::MallocMessageBuilder userMessage;
    auto user = userMessage.initRoot<rpc::UserInfo>();
    user.setDisplayName("Zoë O'Brien");
    if (loggedIn) {
      auto id = user.initIdentityId(32);
      for (size_t i = 0; i < 32; ++i) id[i] = kj::byte(i);
    }
    auto perms = user.initPermissions(2);
    perms.set(1, true);
    capnp::MallocMessageBuilder paramsMessage;
    auto params = paramsMessage.initRoot<WebSession::Params>();
    params.setBasePath("https://ui-abc.example.org");
    kj::String names[] = {kj::str("view"), kj::str("edit")};
    kj::byte tab[] = {1, 2};
    session = makeSessionHeaders(user.asReader(), params.asReader(), tab, names, "s1");
  }
  std::string build(kj::StringPtr method, kj::StringPtr path,
                    kj::ArrayPtr<const HeaderField> defaults = nullptr, BodyHeader body = {}) {
    return buildRequestHead(method, path, context.asReader(), session, defaults, body).cStr();
  }
};

TEST_CASE("the request head replays rawHeaders and adds Sandstorm's", "[bridge]") {
  Fixture f;
  auto raw = f.context.initRawHeaders(6);
  raw[0].setName("accept"); raw[0].setValue("text/html");
  raw[1].setName("x-sandstorm-user-id"); raw[1].setValue("spoofed");
  raw[2].setName("host"); raw[2].setValue("evil.example");
  raw[3].setName("content-length"); raw[3].setValue("999");
  raw[4].setName("content-type"); raw[4].setValue("application/json");
  raw[5].setName("sec-websocket-extensions"); raw[5].setValue("permessage-deflate");
  HeaderField defaults[] = {{kj::str("Content-Type"), kj::str("text/plain")},
                            {kj::str("Depth"), kj::str("1")}};
  auto head = f.build("POST", "a/%2e%2e/b?q=%2F", defaults, {BodyHeader::LENGTH, 3});
  CAPTURE(head);
  CHECK(head.rfind("POST /a/%2e%2e/b?q=%2F HTTP/1.1\r\nHost: ui-abc.example.org\r\n"
                   "X-Forwarded-Proto: https\r\naccept: text/html\r\n"
                   "content-type: application/json\r\nDepth: 1\r\n", 0) == 0);
  CHECK(head.find("spoofed") == std::string::npos);
  CHECK(head.find("evil.example") == std::string::npos);
  CHECK(head.find("999") == std::string::npos);
  CHECK(head.find("text/plain") == std::string::npos);
  CHECK(head.find("permessage-deflate") == std::string::npos);
  CHECK(head.find("X-Sandstorm-Username: Zo%C3%AB%20O'Brien\r\n") != std::string::npos);
  CHECK(head.find("X-Sandstorm-User-Id: 000102030405060708090a0b0c0d0e0f\r\n") !=
        std::string::npos);
  CHECK(head.find("X-Sandstorm-Permissions: edit\r\n") != std::string::npos);
  CHECK(head.find("X-Sandstorm-Tab-Id: 0102\r\n") != std::string::npos);
  CHECK(head.find("X-Sandstorm-Session-Id: s1\r\n") != std::string::npos);
  CHECK(head.size() > 23);
  CHECK(head.substr(head.size() - 21) == "Content-Length: 3\r\n\r\n");
}

TEST_CASE("without rawHeaders Sandstorm's structured context is used", "[bridge]") {
  Fixture f(false);
  auto cookies = f.context.initCookies(2);
  cookies[0].setKey("a"); cookies[0].setValue("1");
  cookies[1].setKey("b"); cookies[1].setValue("2");
  f.context.getETagPrecondition().initMatchesNoneOf(1)[0].setValue("v1");
  auto head = f.build("GET", "", nullptr, {BodyHeader::CHUNKED, 0});
  CAPTURE(head);
  CHECK(head.rfind("GET / HTTP/1.1\r\n", 0) == 0);
  CHECK(head.find("Cookie: a=1; b=2\r\n") != std::string::npos);
  CHECK(head.find("If-None-Match: \"v1\"\r\n") != std::string::npos);
  CHECK(head.find("X-Sandstorm-Username: Anonymous%20User\r\n") != std::string::npos);
  CHECK(head.find("X-Sandstorm-User-Id") == std::string::npos);
  CHECK(head.find("Transfer-Encoding: chunked\r\n\r\n") != std::string::npos);
}

TEST_CASE("CR or LF or NUL anywhere refuse the request", "[bridge]") {
  Fixture f;
  CHECK_THROWS(f.build("GET", "a\r\nX: y"));
  CHECK_THROWS(f.build("GET", "a b"));
  CHECK_THROWS(f.build("GE T", "a"));
  auto raw = f.context.initRawHeaders(1);
  raw[0].setName("x-a");
  raw[0].setValue("ok\nX-Injected: 1");
  CHECK_THROWS(f.build("GET", "a"));
  raw[0].setName("bad name");
  raw[0].setValue("ok");
  CHECK_THROWS(f.build("GET", "a"));
}

}  // namespace
}  // namespace ss::bridge
