// Moving bodies between the platform's pipes and the app's connection.
//
// Request bodies too big to inline arrive as the read end of a pipe (Context.requestBody); the
// bridge splices them into the app's socket. Response bodies that are large or of unknown
// length leave through a pipe the bridge creates (Response content.body.pipe). Bytes move with
// splice(2) wherever the framing allows, so the bridge's memory stays flat whatever the size;
// only chunked response bodies are copied, since their framing has to come out.
#pragma once

#include <stdint.h>

#include <kj/async-unix.h>
#include <kj/timer.h>

#include "rpc/bridge/async-fd.h"
#include "rpc/bridge/http-client.h"
#include "rpc/bridge/response-head.h"

namespace ss::bridge {

kj::Promise<bool> sendPipedBody(AsyncFd& pipe, Connection& connection, int64_t length);
// length >= 0: exactly `length` bytes (the head said Content-Length); false if the pipe ended
// sooner (the platform's client gave up: the request must not reach the app as if complete).
// length -1: until the pipe's EOF, framed as chunked (the head said Transfer-Encoding:
// chunked), each chunk as big as what the pipe holds right then. Socket errors throw.

struct BodyPipe {
  kj::AutoCloseFd readEnd;      // goes to the platform (Handle.getFd)
  kj::Own<AsyncFd> writeEnd;    // the bridge writes the body here; closing it is the EOF
};

BodyPipe makeBodyPipe(kj::UnixEventPort& port);
// pipe2(O_CLOEXEC | O_NONBLOCK), enlarged to limits::PIPE_SIZE when the kernel allows.

kj::Promise<void> pumpResponseBody(Connection& connection, AsyncFd& pipe, BodyFraming framing,
                                   uint64_t length, kj::Timer& timer);
// Moves the rest of the response body (buffered bytes first) into `pipe`, flushing as bytes
// arrive. LENGTH: exactly `length` bytes; CHUNKED: decoded with http/chunked.h's strict
// decoder; UNTIL_CLOSE: until EOF (the connection is then not reusable). Throws if the app
// closes early or breaks the chunked framing; the caller then drops the connection. Clears
// `connection.reusable` when anything follows the body.

}  // namespace ss::bridge
