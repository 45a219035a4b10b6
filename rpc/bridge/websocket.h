// WebSocket relay: the RFC 6455 handshake with the app, then raw bytes both ways.
//
// The platform has already agreed the handshake with the browser; the bridge repeats it
// towards the app on a new connection (GET + Upgrade, a random Sec-WebSocket-Key, version 13,
// the protocols the client offered), and requires 101 with the matching Sec-WebSocket-Accept.
// From then on, frames are never parsed: the client's bytes come through the `upstream` pipe
// and are spliced into the app's socket; the app's bytes are spliced into `downstream`.
// When the client side ends, the app's socket is shut down for writing and the app gets
// limits::WEBSOCKET_CLOSE_GRACE to finish; when the app closes, downstream is closed.
#pragma once

#include <kj/async.h>
#include <kj/string.h>

#include "rpc/bridge/http-client.h"

namespace ss::bridge {

struct WebSocketRequest {
  kj::String head;        // built with the handshake headers and `key`
  kj::String key;         // the Sec-WebSocket-Key sent
  kj::AutoCloseFd upstream;    // read end: client -> app
  kj::AutoCloseFd downstream;  // write end: app -> client
};

kj::Promise<kj::Array<kj::String>> openWebSocket(AppConnector& connector,
                                                 kj::TaskSet& background,
                                                 WebSocketRequest request);
// Resolves to the protocols the app chose (Sec-WebSocket-Protocol, usually zero or one) once
// the app accepted; the relay then runs in `background`. Throws with a clear message if the app
// refuses or answers anything but a valid 101.

kj::String newWebSocketKey();
// 16 random bytes, base64 (RFC 6455 §4.1).

}  // namespace ss::bridge
