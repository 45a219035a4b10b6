// A grain's WebSession.Response turned into what the HTTP layer sends, with no I/O: the daemon
// (grain-gateway.c++) and the fuzz target (tests/fuzz/grain-response.c++) run this same code.
//
// Everything in the message comes from the grain, which may be hostile (DESIGN §4, facts/
// security.md §2.8), so before anything reaches the connection's output:
//   - the status must be a final one, 200-599 (a 1xx would make the browser wait for a second
//     response and take the next pipelined one for it; 101 is only ours to send): else 502;
//   - header names must be tokens and values free of CR, LF, NUL and other controls except HT
//     (response splitting): a violation throws, and the client gets the gateway's 502 page;
//   - framing and connection headers are the HTTP layer's (Content-Length, Transfer-Encoding,
//     Connection, Keep-Alive, Upgrade, Trailer, TE, Proxy-Connection, Date): dropped, so a
//     grain can never declare a length the body does not have;
//   - a negative body length means "unknown" (-1) and nothing else.
#pragma once

#include <stdint.h>

#include <string_view>

#include <kj/vector.h>

#include "http/response.h"
#include "rpc/web-session.capnp.h"

namespace ss::shell {

struct GrainResponse {
  enum class Body : uint8_t {
    INLINE,     // `inlineBody`, sent with respond()
    PIPE,       // the message's body pipe, `length` bytes (-1: until EOF)
    HEAD_ONLY,  // a HEAD request's answer: the head with `length` as Content-Length (-1: none)
  };
  uint16_t status = 502;
  kj::Vector<http::HeaderOut> headers;  // views into the message
  Body body = Body::INLINE;
  std::string_view inlineBody;
  int64_t length = -1;
};

GrainResponse translateResponse(rpc::WebSession::Response::Reader response, bool headRequest);
// Throws a kj::Exception naming the header if the grain sent an unsafe header (see above), and
// whatever capnp throws for a malformed message.

bool isToken(std::string_view text);
// RFC 9110 §5.6.2: one or more tchar.

bool isSafeFieldValue(std::string_view text);
// RFC 9110 §5.5 field-value: VCHAR, SP, HT and obs-text only.

}  // namespace ss::shell
