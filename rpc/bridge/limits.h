// Every bound the legacy-bridge enforces, each with the reason beside it.
//
// The bridge runs inside a grain's sandbox (memory-limited by the grain's cgroup) and talks to
// an app we do not trust to behave: every buffer, wait and pool here has an upper bound.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <kj/time.h>

namespace ss::bridge::limits {

// ---- Talking to the app ------------------------------------------------------------------
constexpr size_t MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
// The app's status line plus headers. Real apps send a few KiB; 64 KiB is what common proxies
// allow (nginx large_client_header_buffers tops out near there). Past it the call gets a
// serverError (502) instead of the bridge buffering without end.

constexpr size_t MAX_INLINE_BODY_BYTES = 64 * 1024;
// Response bodies with a Content-Length up to this travel inline in the RPC message; anything
// larger, chunked or close-delimited goes through a pipe. Small enough that a burst of calls
// does not balloon the bridge's memory, large enough that typical HTML/JSON avoids a pipe.

constexpr size_t READ_BUFFER_BYTES = MAX_RESPONSE_HEAD_BYTES + 4096;
// Per-connection read buffer: a whole head plus some of the body that came with it.

constexpr size_t MAX_IDLE_CONNECTIONS = 64;
// Keep-alive connections kept open to the app. Most apps serve a handful of concurrent
// requests; more idle sockets only cost the app file descriptors.

constexpr size_t MAX_ACTIVE_CONNECTIONS = 400;
// Requests in flight to the app at once; further calls wait for a slot. Each one costs the app
// a socket (and often a thread): an unbounded fan-out would let one grain's browser tab exhaust
// the app's fd limit. WebSockets count too, since each holds a connection for its lifetime.
// 400 stays below the grain's process limit (sandbox/limits.h, 512) for apps that run a thread
// per connection, and below its descriptor limit (three descriptors each on our side).

constexpr kj::Duration PORT_RETRY_INTERVAL = 10 * kj::MILLISECONDS;

constexpr kj::Duration PORT_RETRY_FAST = 1 * kj::MILLISECONDS;
constexpr kj::Duration PORT_RETRY_FAST_PERIOD = 100 * kj::MILLISECONDS;
// A grain's cold start waits on this probe: most apps listen within a few milliseconds, so the
// first 100 ms probe every millisecond (a refused connect on loopback costs microseconds).
// How often we try to connect while the app starts (Sandstorm's bridge used the same 10 ms:
// cheap on loopback, and keeps first-request latency low).

constexpr kj::Duration DEFAULT_PORT_WAIT = 60 * kj::SECONDS;
// Calls that arrive before the app listens wait at most this long, then get a serverError
// naming the port. Sixty seconds covers slow starters (JVM apps, first-run migrations).
// Overridden by SANDSTORM_BRIDGE_PORT_WAIT_MS (tests use a short wait).

constexpr kj::Duration PORT_WAIT_WARNING = 30 * kj::SECONDS;
// Sandstorm's bridge warned once in the grain log after 30 s without a listener; so do we.

constexpr kj::Duration RESPONSE_HEAD_TIMEOUT = 300 * kj::SECONDS;
// From the request being sent to the response head arriving. Long polls legitimately hold a
// request open for minutes; 300 s still frees a connection whose app has hung for good.

constexpr kj::Duration PIPE_STALL_TIMEOUT = 300 * kj::SECONDS;
// How long a body or WebSocket pump waits for the platform to make room in a full pipe. A
// platform that reads nothing for five minutes has lost its client; waiting for the app itself
// is not bounded here (server-sent events may stay silent for long stretches).

constexpr kj::Duration WEBSOCKET_CLOSE_GRACE = 30 * kj::SECONDS;
// After the client's side of a WebSocket ends, how long the app may keep sending (its close
// frame, a last message) before the bridge closes the connection anyway.

constexpr size_t SPLICE_CHUNK = 1024 * 1024;
// Bytes asked of one splice() call: a whole enlarged pipe, so one call moves a pipe's worth.

constexpr uint64_t SPLICE_BURST = 16 * 1024 * 1024;
// Bytes one pump moves before yielding to the event loop, so a fast 200 MiB body still lets
// other calls (and the RPC connection) make progress.

constexpr int PIPE_SIZE = 1024 * 1024;
// F_SETPIPE_SZ for body pipes: fewer wakeups per MiB. 1 MiB is Linux's default
// /proc/sys/fs/pipe-max-size for unprivileged processes; if refused we keep the 64 KiB default.

// ---- RPC -----------------------------------------------------------------------------------
constexpr unsigned MAX_FDS_PER_MESSAGE = 4;
// File descriptors accepted from the platform in one RPC message. openWebSocket carries two
// (upstream and downstream pipes), a request body one; four leaves room without letting a
// confused peer fill our fd table.

constexpr size_t RPC_READ_BUFFER_BYTES = 32 * 1024;
// What one recvmsg() on the platform's socket may bring (rpc-socket.h): several calls' worth,
// so a burst costs one syscall; a bigger message (an inline request body) grows the buffer for
// itself, up to Cap'n Proto's receive limit, and the buffer shrinks back afterwards.

constexpr size_t MAX_BRIDGE_CONFIG_BYTES = 8 * 1024 * 1024;
// /sandstorm-http-bridge-config is a package file, typically a few KiB; same bound as a
// manifest (8 MiB).

// ---- Process -------------------------------------------------------------------------------
constexpr kj::Duration EXIT_FLUSH_DELAY = 100 * kj::MILLISECONDS;
// After the app exits, the bridge keeps serving this long before exiting so that calls failed
// by the app's death return their errors to the platform instead of a bare disconnect.

constexpr kj::Duration TERMINATE_GRACE = 5 * kj::SECONDS;
// When the platform disconnects, the app gets SIGTERM and this long to exit before SIGKILL.

}  // namespace ss::bridge::limits
