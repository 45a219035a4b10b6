// SHA-1, only for the WebSocket handshake (RFC 6455 §4.2.2: Sec-WebSocket-Accept is
// base64(SHA-1(key + GUID))). Not for anything that needs collision resistance. KJ keeps its
// own SHA-1 private to kj-http, and the static bridge should not pull in a crypto library for
// twenty bytes.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>

#include <string_view>

#include "http/request.h"

namespace ss::http {

kj::FixedArray<kj::byte, 20> sha1(kj::ArrayPtr<const kj::byte> data);

kj::String webSocketAccept(kj::StringPtr key);
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).

bool isValidWebSocketKey(std::string_view key);
// RFC 6455 §4.2.1: base64 of 16 bytes, so exactly 24 characters ending in "==".

kj::Vector<kj::String> splitProtocols(std::string_view value);
// "chat, superchat" -> its tokens (OWS trimmed, empty items dropped).

struct WebSocketHandshake {
  uint16_t status = 0;             // 0: valid; else 426 (version) or 400 (key) to answer with
  const char* reason = "";
  kj::String accept;               // Sec-WebSocket-Accept for the 101
  kj::Vector<kj::String> offered;  // every Sec-WebSocket-Protocol token, in order
};

WebSocketHandshake checkWebSocketHandshake(const Request& request);
// The browser side of a handshake the head parser already recognised as a WebSocket upgrade
// (request.websocketUpgrade): version 13, a well-formed key, the offered subprotocols.

}  // namespace ss::http
