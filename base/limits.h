// Every bound the server enforces, in one place, each with the reason beside it.
// Components take these as defaults; config may lower (rarely raise) some of them.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace ss::limits {

// ---- io_uring ----------------------------------------------------------------------------
constexpr unsigned RING_SQ_ENTRIES = 1024;
// Submissions per batch. We flush when the SQ is full, so this bounds a batch, not throughput.
constexpr unsigned RING_CQ_ENTRIES = 16384;
// Multishot accept/recv can post many CQEs per SQE; a CQ much larger than the SQ keeps the
// kernel from spilling into its (slower) overflow list under load. liburing's echo-server
// uses 8x; we hold up to MAX_CONNECTIONS multishot recvs, so size for those.
static_assert(RING_CQ_ENTRIES >= 8 * RING_SQ_ENTRIES, "multishot needs a large CQ");
constexpr unsigned CQE_BATCH = 256;
// CQEs copied out per reap before callbacks run (TigerBeetle copies in fixed batches too).

constexpr unsigned RECV_BUFFER_COUNT = 1024;
// Provided buffers for multishot recv, shared by all connections. Idle connections hold none
// (that is what makes an idle keep-alive connection cost < 1 KiB). Each CQE consumes one until
// we recycle it, so this bounds how many connections can deliver data in one reap; running out
// is handled (ENOBUFS -> re-arm after recycle), just slower.
static_assert((RECV_BUFFER_COUNT & (RECV_BUFFER_COUNT - 1)) == 0, "buffer ring size: power of 2");
constexpr size_t RECV_BUFFER_SIZE = 4096;
// One page: a typical request head fits in one buffer.

// ---- Connections -------------------------------------------------------------------------
constexpr unsigned MAX_CONNECTIONS = 16384;
// The machine's hard fd limit is 20000 (facts/security.md §0.7); keep room for grains, the
// store and listeners. Past this we stop accepting until a connection closes.
constexpr unsigned MAX_CONNECTIONS_PER_ADDRESS = 512;
// Per remote IP, except loopback: behind a reverse proxy (nginx-example.conf) every client is
// 127.0.0.1, so limiting loopback would limit everyone.
constexpr int LISTEN_BACKLOG = 4096;
// Absorbs connection bursts (wrk -c1024 connects all at once).

// ---- HTTP request heads --------------------------------------------------------------------
constexpr size_t MAX_REQUEST_LINE = 8 * 1024;
// Longer request lines get 414 (facts/security.md §3.2); real URLs stay far below.
constexpr size_t MAX_HEADER_LINE = 8 * 1024;
// One field line; longer gets 431.
constexpr size_t MAX_HEADER_COUNT = 100;
// More fields than this gets 431. Browsers send ~20.
constexpr size_t MAX_HEAD_BYTES = 32 * 1024;
// Whole head (request line + fields); more gets 431.
static_assert(MAX_REQUEST_LINE <= MAX_HEAD_BYTES && MAX_HEADER_LINE <= MAX_HEAD_BYTES);
constexpr size_t MAX_CHUNK_LINE = 4 * 1024;
// A chunk-size line with extensions; unbounded extensions were Node's CVE-2024-22019.

// ---- HTTP bodies and output ---------------------------------------------------------------
constexpr uint64_t MAX_BUFFERED_BODY = 1024 * 1024;
// Request bodies that a handler asks to receive whole (JSON API calls) are capped here; 413
// beyond. Uploads stream instead and have their own, much larger, limits.
constexpr size_t MAX_PENDING_INPUT = 64 * 1024;
// Unparsed input (pipelined requests) held per connection before we stop reading from it.
// A client that pipelines faster than it reads responses gets back-pressure, not our RAM.
constexpr size_t MAX_PENDING_OUTPUT = 256 * 1024;
// Unsent response bytes per connection before we stop processing its further requests.

// ---- Time ----------------------------------------------------------------------------------
constexpr uint64_t HEAD_TIMEOUT_MS = 15'000;
// A request head must complete within this from its first byte (slowloris; total, not per
// byte). Answered with 408 then closed.
constexpr uint64_t BODY_IDLE_TIMEOUT_MS = 30'000;
// A request body that makes no progress for this long closes the connection (R.U.D.Y.).
constexpr uint64_t KEEPALIVE_TIMEOUT_MS = 75'000;
// Idle keep-alive connections close after this (nginx default; browsers keep ~ 60-300 s).
constexpr uint64_t SEND_TIMEOUT_MS = 60'000;
// A client that does not read its response for this long is dropped (slow read).
constexpr uint64_t SHUTDOWN_DRAIN_MS = 10'000;
// On SIGTERM, in-flight requests get this long to finish before connections are cut.
constexpr uint64_t ACCEPT_RETRY_MS = 100;
// After EMFILE/ENFILE on accept we pause this long (no busy loop) before accepting again.
constexpr uint64_t GRAIN_RESPONSE_TIMEOUT_MS = 310'000;
// From a request reaching a grain to its response head (or WebSocket handshake) coming back;
// past it the client gets 504 and the call is cancelled. The in-grain bridge gives up after
// 300 s itself (rpc/bridge/limits.h: long polls), but the bridge runs inside the sandbox and
// cannot be trusted to: a hostile or hung grain must not hold connections forever. `start
// --grain-timeout` lowers it.

// ---- Grain logs ----------------------------------------------------------------------------
constexpr uint64_t GRAIN_LOG_ROTATE_BYTES = 1 << 20;
// A grain's log moves to log.1 (replacing the previous one) when it grows past this, also
// while the grain runs: a grain's log takes at most 2x this on disk, whatever it writes.
constexpr uint64_t GRAIN_LOG_BYTES_PER_SECOND = 256 * 1024;
// The daemon copies a grain's stdout/stderr into its log at most this fast; beyond it stops
// reading the pipe until the next second, so a flooding app blocks in its own write() instead
// of costing the daemon CPU or the disk bandwidth other grains need.
constexpr size_t GRAIN_LOG_READ_BYTES = 64 * 1024;
// One read from a grain's output pipe (a full default pipe); bounds the work of one wake-up.

// ---- The server's own log (`sandstorm start`: <data-dir>/log/sandstorm.log) ------------------
constexpr uint64_t SERVER_LOG_ROTATE_BYTES = 8 << 20;
// The log moves to sandstorm.log.1 (replacing the previous one) past this: at most 2x on disk.
constexpr uint64_t SERVER_LOG_CHECK_MS = 2'000;
// How often the size is checked. The server logs per event, not per request, so a check every
// couple of seconds keeps the overshoot small without a stat per line.

}  // namespace ss::limits
