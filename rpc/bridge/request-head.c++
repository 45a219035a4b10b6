#include "rpc/bridge/request-head.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <kj/debug.h>
#include <kj/encoding.h>

namespace ss::bridge {

namespace {

// Request headers never replayed from Context.rawHeaders. The platform already removed the
// hop-by-hop ones; we check again because the bridge writes the framing itself, and a stray
// Content-Length or Transfer-Encoding next to ours would desynchronise the keep-alive
// connection. Sec-WebSocket-*: the platform negotiated the handshake with the browser, so an
// extension (permessage-deflate) the app accepted from us would corrupt the relayed frames.
bool neverReplayed(kj::StringPtr name) {
  static constexpr const char* NAMES[] = {
      "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
      "te", "trailer", "expect", "x-forwarded-proto"};
  for (auto n : NAMES) {
    if (equalsIgnoreCase(name, n)) return true;
  }
  return startsWithIgnoreCase(name, "proxy-") || startsWithIgnoreCase(name, "sec-websocket-") ||
         startsWithIgnoreCase(name, "x-sandstorm-");
}

void requireSafe(kj::StringPtr what, kj::ArrayPtr<const char> text) {
  for (char c : text) {
    KJ_REQUIRE(c != '\r' && c != '\n' && c != '\0',
               "refusing to relay a request: CR, LF or NUL would split the HTTP head", what);
  }
}

class HeadWriter {
public:
  void line(kj::StringPtr name, kj::StringPtr value) {
    KJ_REQUIRE(isToken(name), "refusing to relay a request: invalid header name", name);
    requireSafe(name, value);
    parts.add(kj::str(name, ": ", value, "\r\n"));
  }
  void raw(kj::String s) { parts.add(kj::mv(s)); }
  kj::String finish() {
    parts.add(kj::str("\r\n"));
    return kj::strArray(parts, "");
  }

private:
  kj::Vector<kj::String> parts;
};

bool hasHeader(rpc::WebSession::Context::Reader context, kj::StringPtr name) {
  for (auto h : context.getRawHeaders()) {
    if (equalsIgnoreCase(h.getName(), name)) return true;
  }
  return false;
}

kj::String etagList(capnp::List<rpc::WebSession::ETag>::Reader tags) {
  kj::Vector<kj::String> parts;
  for (auto tag : tags) {
    parts.add(kj::str(tag.getWeak() ? "W/" : "", "\"", tag.getValue(), "\""));
  }
  return kj::strArray(parts, ", ");
}

// Sandstorm's structured fields, for callers that do not send rawHeaders.
void writeSandstormContext(HeadWriter& w, rpc::WebSession::Context::Reader context,
                           const SessionHeaders& session) {
  if (session.userAgent.size() > 0) w.line("User-Agent", session.userAgent);
  if (session.acceptLanguage.size() > 0) w.line("Accept-Language", session.acceptLanguage);
  if (context.hasCookies()) {
    kj::Vector<kj::String> cookies;
    for (auto c : context.getCookies()) cookies.add(kj::str(c.getKey(), "=", c.getValue()));
    w.line("Cookie", kj::strArray(cookies, "; "));
  }
  if (context.hasAccept()) {
    kj::Vector<kj::String> types;
    for (auto t : context.getAccept()) {
      types.add(t.getQValue() == 1.0f ? kj::str(t.getMimeType())
                                      : kj::str(t.getMimeType(), ";q=", t.getQValue()));
    }
    w.line("Accept", kj::strArray(types, ","));
  }
  if (context.hasAcceptEncoding()) {
    kj::Vector<kj::String> codings;
    for (auto e : context.getAcceptEncoding()) {
      codings.add(e.getQValue() == 1.0f ? kj::str(e.getContentCoding())
                                        : kj::str(e.getContentCoding(), ";q=", e.getQValue()));
    }
    w.line("Accept-Encoding", kj::strArray(codings, ","));
  }
  auto precondition = context.getETagPrecondition();
  switch (precondition.which()) {
    case rpc::WebSession::Context::ETagPrecondition::NONE:
      break;
    case rpc::WebSession::Context::ETagPrecondition::EXISTS:
      w.line("If-Match", "*");
      break;
    case rpc::WebSession::Context::ETagPrecondition::DOESNT_EXIST:
      w.line("If-None-Match", "*");
      break;
    case rpc::WebSession::Context::ETagPrecondition::MATCHES_ONE_OF:
      w.line("If-Match", etagList(precondition.getMatchesOneOf()));
      break;
    case rpc::WebSession::Context::ETagPrecondition::MATCHES_NONE_OF:
      w.line("If-None-Match", etagList(precondition.getMatchesNoneOf()));
      break;
  }
  for (auto h : context.getAdditionalHeaders()) {
    if (!neverReplayed(h.getName())) w.line(h.getName(), h.getValue());
  }
}

}  // namespace

bool isToken(kj::StringPtr s) {
  // RFC 9110 §5.6.2 tchar.
  if (s.size() == 0) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != nullptr);
    if (!ok) return false;
  }
  return true;
}

kj::String randomHex(size_t n) {
  auto bytes = kj::heapArray<kj::byte>(n);
  size_t got = 0;
  while (got < n) {
    ssize_t r;
    KJ_SYSCALL(r = getrandom(bytes.begin() + got, n - got, 0));
    got += r;
  }
  return kj::encodeHex(bytes);
}

SessionHeaders makeSessionHeaders(rpc::UserInfo::Reader userInfo,
                                  rpc::WebSession::Params::Reader params,
                                  kj::ArrayPtr<const kj::byte> tabId,
                                  kj::ArrayPtr<const kj::String> permissionNames,
                                  kj::StringPtr sessionId) {
  SessionHeaders s;
  // basePath is "scheme://authority" (no trailing '/'): the app builds absolute URLs from Host
  // and X-Forwarded-Proto, so they must say what the browser sees.
  kj::StringPtr basePath = params.getBasePath();
  KJ_IF_MAYBE(sep, basePath.findFirst(':')) {
    if (basePath.slice(*sep).startsWith("://")) {
      s.forwardedProto = kj::heapString(basePath.slice(0, *sep));
      auto rest = basePath.slice(*sep + 3);
      KJ_IF_MAYBE(slash, rest.findFirst('/')) {
        s.host = kj::heapString(rest.slice(0, *slash));
      } else {
        s.host = kj::heapString(rest);
      }
    }
  }
  if (s.host.size() == 0) s.host = kj::heapString("sandbox");
  s.userAgent = kj::heapString(params.getUserAgent());
  s.acceptLanguage = kj::strArray(params.getAcceptableLanguages(), ",");

  auto add = [&s](const char* name, kj::String value) {
    s.sandstorm.add(HeaderField{kj::heapString(name), kj::mv(value)});
  };
  if (tabId.size() > 0) add("X-Sandstorm-Tab-Id", kj::encodeHex(tabId));
  bool loggedIn = userInfo.hasIdentityId();
  // Sandstorm percent-encodes the display name (it may hold any Unicode).
  add("X-Sandstorm-Username",
      loggedIn ? kj::encodeUriComponent(userInfo.getDisplayName())
               : kj::heapString("Anonymous%20User"));
  if (loggedIn) {
    auto id = userInfo.getIdentityId();
    add("X-Sandstorm-User-Id", kj::encodeHex(id.slice(0, kj::min(id.size(), size_t(16)))));
  }
  if (userInfo.getPreferredHandle().size() > 0) {
    add("X-Sandstorm-Preferred-Handle", kj::heapString(userInfo.getPreferredHandle()));
  }
  if (userInfo.getPictureUrl().size() > 0) {
    add("X-Sandstorm-User-Picture", kj::heapString(userInfo.getPictureUrl()));
  }
  switch (userInfo.getPronouns()) {
    case rpc::UserInfo::Pronouns::NEUTRAL: break;
    case rpc::UserInfo::Pronouns::MALE: add("X-Sandstorm-User-Pronouns", kj::str("male")); break;
    case rpc::UserInfo::Pronouns::FEMALE:
      add("X-Sandstorm-User-Pronouns", kj::str("female"));
      break;
    case rpc::UserInfo::Pronouns::ROBOT:
      add("X-Sandstorm-User-Pronouns", kj::str("robot"));
      break;
  }
  add("X-Sandstorm-Session-Type", kj::str("normal"));
  kj::Vector<kj::StringPtr> held;
  auto bits = userInfo.getPermissions();
  for (size_t i = 0; i < bits.size() && i < permissionNames.size(); ++i) {
    if (bits[i]) held.add(permissionNames[i]);
  }
  add("X-Sandstorm-Permissions", kj::strArray(held, ","));
  add("X-Sandstorm-Base-Path", kj::heapString(basePath));
  add("X-Sandstorm-Session-Id", kj::heapString(sessionId));
  return s;
}

kj::String buildRequestHead(kj::StringPtr method, kj::StringPtr path,
                            rpc::WebSession::Context::Reader context,
                            const SessionHeaders& session,
                            kj::ArrayPtr<const HeaderField> defaults, BodyHeader body) {
  KJ_REQUIRE(isToken(method), "refusing to relay a request: invalid method", method);
  // The target is relayed byte for byte (no decoding, no normalising). It may not contain what
  // would end the request line early.
  for (char c : path) {
    KJ_REQUIRE(c > ' ' && c != 0x7f, "refusing to relay a request: space or control byte in path",
               path);
  }

  HeadWriter w;
  w.raw(kj::str(method, " /", path, " HTTP/1.1\r\n"));
  w.line("Host", session.host);
  KJ_IF_MAYBE(proto, session.forwardedProto) { w.line("X-Forwarded-Proto", *proto); }

  auto raw = context.getRawHeaders();
  if (raw.size() > 0) {
    for (auto h : raw) {
      if (!neverReplayed(h.getName())) w.line(h.getName(), h.getValue());
    }
  } else {
    writeSandstormContext(w, context, session);
  }
  for (auto& d : defaults) {
    // A name we never replay (Upgrade, Connection...) is always ours to set.
    if (raw.size() == 0 || neverReplayed(d.name) || !hasHeader(context, d.name)) {
      w.line(d.name, d.value);
    }
  }
  for (auto& h : session.sandstorm) w.line(h.name, h.value);
  switch (body.kind) {
    case BodyHeader::NONE: break;
    case BodyHeader::LENGTH: w.line("Content-Length", kj::str(body.length)); break;
    case BodyHeader::CHUNKED: w.line("Transfer-Encoding", "chunked"); break;
  }
  return w.finish();
}

}  // namespace ss::bridge
