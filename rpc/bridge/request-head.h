// The HTTP/1.1 request head the bridge sends the app for one WebSession call.
//
// What the app sees (facts/sandstorm.md §3.3, DESIGN.md §4 "Relay faithfully"):
//   <METHOD> /<path> HTTP/1.1        path exactly as the platform passed it: never decoded
//   Context.rawHeaders, in order     minus hop-by-hop, framing, Host, Sec-WebSocket-* and every
//                                    X-Sandstorm-* the client sent (the app must be able to trust
//                                    those to come from the platform)
//   Host, X-Forwarded-Proto          from Params.basePath ("Host: sandbox" without one)
//   method defaults                  e.g. Content-Type, Depth: only when rawHeaders lack them
//   X-Sandstorm-*                    Sandstorm's set, computed once per session
//   Content-Length | Transfer-Encoding: chunked
// When rawHeaders is empty (a Sandstorm-style caller), the head is built from Sandstorm's
// structured Context fields instead (cookies, accept, acceptEncoding, eTagPrecondition,
// additionalHeaders) plus User-Agent and Accept-Language from the session.
//
// Any method, path, header name or value with CR, LF or NUL (or a name that is not a token)
// makes the call fail: nothing the platform or a client sends may split the request.
#pragma once

#include <stdint.h>

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>

#include "rpc/bridge/response-head.h"
#include "rpc/identity.capnp.h"
#include "rpc/web-session.capnp.h"

namespace ss::bridge {

struct SessionHeaders {
  kj::String host;
  kj::Maybe<kj::String> forwardedProto;
  kj::String userAgent;
  kj::String acceptLanguage;
  kj::Vector<HeaderField> sandstorm;  // X-Sandstorm-*, in Sandstorm's order
};

SessionHeaders makeSessionHeaders(rpc::UserInfo::Reader userInfo,
                                  rpc::WebSession::Params::Reader params,
                                  kj::ArrayPtr<const kj::byte> tabId,
                                  kj::ArrayPtr<const kj::String> permissionNames,
                                  kj::StringPtr sessionId);
// `permissionNames` is the app's ViewInfo.permissions[i].name; userInfo.permissions[i] says
// whether the user holds permission i.

struct BodyHeader {
  enum Kind : uint8_t { NONE, LENGTH, CHUNKED };
  Kind kind = NONE;
  uint64_t length = 0;
};

kj::String buildRequestHead(kj::StringPtr method, kj::StringPtr path,
                            rpc::WebSession::Context::Reader context,
                            const SessionHeaders& session,
                            kj::ArrayPtr<const HeaderField> defaults, BodyHeader body);
// `defaults` are method-specific headers (Content-Type of a post, Depth of a PROPFIND, the
// WebSocket handshake) added after rawHeaders unless rawHeaders already has that name.
// Throws (KJ_REQUIRE) on CR, LF or NUL anywhere, or a method or header name that is not a
// token.

bool isToken(kj::StringPtr s);
kj::String randomHex(size_t bytes);
// getrandom(2) bytes as lowercase hex (session IDs).

}  // namespace ss::bridge
