// SHA-1, only for the WebSocket handshake (RFC 6455 §4.2.2: Sec-WebSocket-Accept is
// base64(SHA-1(key + GUID))). Not for anything that needs collision resistance. KJ keeps its
// own SHA-1 private to kj-http, and the static bridge should not pull in a crypto library for
// twenty bytes.
#pragma once

#include <kj/array.h>
#include <kj/string.h>

namespace ss::http {

kj::FixedArray<kj::byte, 20> sha1(kj::ArrayPtr<const kj::byte> data);

kj::String webSocketAccept(kj::StringPtr key);
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).

}  // namespace ss::http
