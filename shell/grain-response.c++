#include "shell/grain-response.h"

#include <kj/debug.h>
#include <kj/encoding.h>

#include "http/request.h"

namespace ss::shell {

namespace {

std::string_view view(capnp::Text::Reader text) {
  return std::string_view(text.begin(), text.size());
}

bool isLayerOwned(std::string_view name) {
  static constexpr std::string_view OWNED[] = {
      "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
      "trailer", "te", "proxy-connection", "date",
  };
  for (auto owned: OWNED) {
    if (http::equalsIgnoreCase(name, owned)) return true;
  }
  return false;
}

uint16_t statusOf(rpc::WebSession::Response::Reader response) {
  if (response.getRawStatus() != 0) return response.getRawStatus();
  switch (response.which()) {
    case rpc::WebSession::Response::CONTENT: return response.getContent().getStatusCode();
    case rpc::WebSession::Response::NO_CONTENT: return 204;
    case rpc::WebSession::Response::PRECONDITION_FAILED: return 412;
    case rpc::WebSession::Response::REDIRECT:
      return response.getRedirect().getIsPermanent() ? 308 : 307;
    case rpc::WebSession::Response::CLIENT_ERROR: return response.getClientError().getStatusCode();
    case rpc::WebSession::Response::SERVER_ERROR: return 500;
  }
  return 500;
}

void addHeader(GrainResponse& out, std::string_view name, std::string_view value) {
  KJ_REQUIRE(isToken(name), "the app sent a response header with an invalid name",
             kj::str(kj::encodeCEscape(kj::arrayPtr(name.data(), name.size()))));
  KJ_REQUIRE(isSafeFieldValue(value), "the app sent a response header value with control "
             "characters (CR, LF, NUL...)", kj::heapString(name.data(), name.size()));
  if (isLayerOwned(name)) return;
  out.headers.add(http::HeaderOut{name, value});
}

}  // namespace

bool isToken(std::string_view text) {
  if (text.empty()) return false;
  for (unsigned char c: text) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos);
    if (!ok) return false;
  }
  return true;
}

bool isSafeFieldValue(std::string_view text) {
  for (unsigned char c: text) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

GrainResponse translateResponse(rpc::WebSession::Response::Reader reader, bool headRequest) {
  GrainResponse out;
  uint16_t status = statusOf(reader);
  out.status = status < 200 || status > 599 ? 502 : status;
  auto rawHeaders = reader.getRawHeaders();
  out.headers.reserve(rawHeaders.size() + 1);
  for (auto header: rawHeaders) addHeader(out, view(header.getName()), view(header.getValue()));
  if (reader.isRedirect() && rawHeaders.size() == 0) {
    addHeader(out, "Location", view(reader.getRedirect().getLocation()));
  }

  if (!reader.isContent()) {
    if (reader.isClientError()) out.inlineBody = view(reader.getClientError().getNonHtmlBody());
    if (reader.isServerError()) out.inlineBody = view(reader.getServerError().getNonHtmlBody());
    return out;
  }
  auto content = reader.getContent();
  auto body = content.getBody();
  out.length = content.getBodyLength() < 0 ? -1 : content.getBodyLength();
  if (headRequest) {
    out.body = GrainResponse::Body::HEAD_ONLY;
  } else if (body.isPipe()) {
    out.body = GrainResponse::Body::PIPE;
  } else {
    auto bytes = body.isBytes() ? body.getBytes() : capnp::Data::Reader();
    out.inlineBody = std::string_view(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  }
  return out;
}

}  // namespace ss::shell
