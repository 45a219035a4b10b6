// HTTP to a grain: turns one HTTP exchange into a WebSession call (rpc/web-session.capnp) and
// the answer back into an HTTP response. The request target, method, status and end-to-end
// headers are relayed faithfully (DESIGN §4); hop-by-hop headers are not. Bodies above a small
// size travel through pipes in both directions (spliced by the HTTP layer and by the bridge).
#pragma once

#include "http/server.h"
#include "shell/grain-host.h"

namespace ss::shell {

constexpr uint64_t INLINE_BODY_LIMIT = 64 * 1024;
// Request bodies up to this size travel inside the RPC message (one copy, no pipe set-up);
// larger ones stream through a pipe. The bridge applies the same threshold to responses.

bool shouldStreamBody(const http::Request& request);
// For Handler::bodyPolicy(): STREAM when the body is larger than INLINE_BODY_LIMIT.

void forwardToGrain(http::Exchange& exchange, GrainHost& host, const GrainSpec& spec);
// Defers `exchange` until the grain has answered. If the grain cannot be started or fails
// mid-request, the client gets a 502/503 page with the reason and the tail of the grain's log.

struct GatewayOptions {
  kj::String responseHeaders;
  // Added to every response ("Name: value\r\n" lines): the grain origin's CSP.
  bool stripPlatformCookies = false;
  // Cookies named "sandstorm-*" (the shell's and the grain sessions') never reach the app.
  kj::Timer* timer = nullptr;
  uint64_t responseTimeoutMs = 0;
  // With a timer: no response head (or WebSocket handshake) within this long -> 504 and the
  // call is cancelled (limits::GRAIN_RESPONSE_TIMEOUT_MS). 0 = wait as long as the grain does.
};

kj::Promise<void> callWebSession(http::Exchange& exchange, rpc::WebSession::Client session,
                                 GatewayOptions options = {});
// The translation itself, for a session the caller already has.

void respondGrainError(http::Exchange& exchange, uint16_t status, kj::StringPtr what,
                       kj::StringPtr detail);
// A small HTML error page (escaped), for failures between the browser and the grain.

}  // namespace ss::shell
