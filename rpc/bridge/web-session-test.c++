#include "rpc/bridge/web-session.h"

#include <capnp/message.h>

#include <string>

#include "rpc/bridge/exchange.h"
#include "tests/test-support.h"

namespace ss::bridge {
namespace {

using rpc::WebSession;

ExchangeResult response(const std::string& head, const std::string& body) {
  ExchangeResult r;
  REQUIRE(parseResponseHead(kj::arrayPtr(reinterpret_cast<const kj::byte*>(head.data()),
                                         head.size()), r.head).kind == HeadParse::COMPLETE);
  r.inlineBody = kj::heapArray<kj::byte>(reinterpret_cast<const kj::byte*>(body.data()),
                                         body.size());
  r.bodyLength = body.size();
  return r;
}

TEST_CASE("responses map to Sandstorm's union without losing status or headers or body",
          "[bridge]") {
  capnp::MallocMessageBuilder m;
  auto out = m.initRoot<WebSession::Response>();
  {
    auto r = response("HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n", "");
    fillResponse(r, out);
    CHECK(out.getRawStatus() == 302);
    REQUIRE(out.isRedirect());
    CHECK(!out.getRedirect().getIsPermanent());
    CHECK(out.getRedirect().getSwitchToGet());
    CHECK(out.getRedirect().getLocation() == "/x");
  }
  {
    auto r = response("HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n", "moved");
    fillResponse(r, out);
    REQUIRE(out.isContent());  // a body the redirect arm cannot carry
    CHECK(out.getContent().getStatusCode() == 302);
  }
  {
    auto r = response("HTTP/1.1 404 Nope\r\nContent-Type: text/html\r\n\r\n", "<p>no</p>");
    fillResponse(r, out);
    REQUIRE(out.isClientError());
    CHECK(out.getClientError().getStatusCode() == 404);
    CHECK(out.getClientError().getDescriptionHtml() == "<p>no</p>");
    CHECK(!out.getClientError().hasNonHtmlBody());
  }
  {
    auto r = response("HTTP/1.1 205 Reset\r\nETag: W/\"e1\"\r\n\r\n", "");
    fillResponse(r, out);
    REQUIRE(out.isNoContent());
    CHECK(out.getNoContent().getShouldResetForm());
    CHECK(out.getNoContent().getETag().getValue() == "e1");
    CHECK(out.getNoContent().getETag().getWeak());
  }
  {
    auto r = response("HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n"
                      "Content-Disposition: attachment; filename=\"a.csv\"\r\n"
                      "Connection: keep-alive\r\n\r\n", "x,y");
    fillResponse(r, out);
    REQUIRE(out.isContent());
    CHECK(out.getContent().getMimeType() == "text/csv");
    CHECK(out.getContent().getDisposition().getDownload() == "a.csv");
    CHECK(out.getRawHeaders().size() == 2);  // Connection dropped
  }
  {
    ExchangeResult r;
    r.kind = ExchangeResult::PORT_NOT_OPEN;
    r.message = kj::str("The app did not open port 8000 in time.");
    fillResponse(r, out);
    CHECK(out.getRawStatus() == 503);
    REQUIRE(out.isServerError());
    CHECK(out.getServerError().getNonHtmlBody() == "The app did not open port 8000 in time.");
  }
}

}  // namespace
}  // namespace ss::bridge
