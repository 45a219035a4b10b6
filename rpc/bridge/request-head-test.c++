#include "rpc/bridge/request-head.h"

#include <capnp/message.h>

#include "tests/test-support.h"

namespace {

struct Session {
  capnp::MallocMessageBuilder message;
  ss::bridge::SessionHeaders headers;
  Session(bool anonymous, std::initializer_list<bool> held) {
    auto root = message.initRoot<ss::rpc::UserInfo>();
    root.setDisplayName("Ada Lovelace");
    if (!anonymous) {
      auto id = root.initIdentityId(32);
      for (size_t i = 0; i < 32; i++) id[i] = static_cast<kj::byte>(i);
    }
    auto permissions = root.initPermissions(held.size());
    size_t i = 0;
    for (bool h: held) permissions.set(i++, h);
    capnp::MallocMessageBuilder paramsMessage;
    auto params = paramsMessage.initRoot<ss::rpc::WebSession::Params>();
    params.setBasePath("https://grain.example:7001");
    kj::String names[] = {kj::str("view"), kj::str("edit")};
    kj::byte tab[] = {0xab, 0xcd};
    headers = ss::bridge::makeSessionHeaders(root.asReader(), params.asReader(), tab, names,
                                             "5e55");
  }
  kj::String get(kj::StringPtr name) {
    for (auto& h: headers.sandstorm) {
      if (h.name == name) return kj::str(h.value);
    }
    return kj::str("<missing>");
  }
};

}  // namespace

TEST_CASE("session headers carry who the user is and what they may do", "[bridge]") {
  Session s(false, {true, false});
  CHECK(s.headers.host == "grain.example:7001");
  CHECK(KJ_ASSERT_NONNULL(s.headers.forwardedProto) == "https");
  CHECK(s.get("X-Sandstorm-Username") == "Ada%20Lovelace");
  CHECK(s.get("X-Sandstorm-User-Id") == "000102030405060708090a0b0c0d0e0f");
  CHECK(s.get("X-Sandstorm-Permissions") == "view");
  CHECK(s.get("X-Sandstorm-Session-Id") == "5e55");
  CHECK(s.get("X-Sandstorm-Tab-Id") == "abcd");
  CHECK(s.get("X-Sandstorm-Base-Path") == "https://grain.example:7001");

  Session anonymous(true, {true, true});
  CHECK(anonymous.get("X-Sandstorm-User-Id") == "<missing>");
  CHECK(anonymous.get("X-Sandstorm-Permissions") == "view,edit");
}

TEST_CASE("request heads refuse header injection", "[bridge]") {
  Session s(false, {true});
  capnp::MallocMessageBuilder message;
  auto context = message.initRoot<ss::rpc::WebSession::Context>();
  auto raw = context.initRawHeaders(2);
  raw[0].setName("accept");
  raw[0].setValue("text/html");
  raw[1].setName("x-sandstorm-user-id");  // a client may not pose as someone else
  raw[1].setValue("deadbeef");
  auto head = ss::bridge::buildRequestHead("GET", "notes?x=%2F", context.asReader(), s.headers,
                                           nullptr, {});
  CHECK(head.startsWith("GET /notes?x=%2F HTTP/1.1\r\n"));
  CHECK(head.findFirst('\0') == nullptr);
  CHECK(kj::StringPtr(head).endsWith("\r\n\r\n"));
  CHECK(strstr(head.cStr(), "deadbeef") == nullptr);
  CHECK(strstr(head.cStr(), "accept: text/html\r\n") != nullptr);

  raw[0].setValue("a\r\nX-Evil: 1");
  REQUIRE_THROWS(ss::bridge::buildRequestHead("GET", "x", context.asReader(), s.headers,
                                              nullptr, {}));
  REQUIRE_THROWS(ss::bridge::buildRequestHead("GE T", "x", context.asReader(), s.headers,
                                              nullptr, {}));
}
