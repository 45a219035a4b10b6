// HTTP/1.1 server on the reactor: listeners, connections, limits, graceful drain.
//
// Each connection runs multishot recv into the shared buffer ring (an idle keep-alive
// connection holds no buffer), parses heads strictly (http/head-parser.h), frames bodies itself
// (Content-Length or ChunkedDecoder), hands complete requests to a Handler, and writes
// responses in order (pipelining), with back-pressure in both directions and deadlines for
// heads, bodies, idle keep-alive and slow readers (base/limits.h).
//
// Bad input gets a 400/408/413/414/431/505 response with "Connection: close"; the connection is
// then half-closed and drained briefly (lingering close) so the client reads the error instead
// of a reset. Nothing after a framing error is ever parsed as a request.
#pragma once

#include <stdint.h>

#include <string_view>

#include <kj/async.h>
#include <kj/common.h>

#include "base/fd.h"
#include "base/limits.h"
#include "http/metrics.h"
#include "http/request.h"
#include "http/response.h"
#include "reactor/reactor.h"

namespace ss::http {

class Connection;

// One request being answered. Valid from Handler::handle() until the response is complete (or
// the client goes away, which cancels deferred work: see defer()).
class Exchange {
public:
  const Request& request() const { return *req; }
  std::string_view body() const { return requestBody; }
  // The whole body, when the handler's body policy was BUFFER (bounded by MAX_BUFFERED_BODY).

  kj::Maybe<AutoCloseFd> takeBodyPipe();
  // STREAM policy with a body: the read end of a pipe that will carry exactly
  // request().contentLength bytes, moved from the client socket with splice(). Null without a
  // body. Take it at most once.

  void respond(uint16_t status, std::initializer_list<HeaderOut> headers, std::string_view body,
               std::string_view preformattedHeaders = {});
  void respond(uint16_t status, kj::ArrayPtr<const HeaderOut> headers, std::string_view body,
               std::string_view preformattedHeaders = {});
  // Sends a complete response with Content-Length (no body for HEAD, 1xx, 204, 304).
  // `preformattedHeaders` is appended verbatim ("Name: value\r\n" lines). Call exactly once
  // (counting respondWithPipe).

  void respondWithPipe(uint16_t status, kj::ArrayPtr<const HeaderOut> headers, AutoCloseFd body,
                       int64_t length, std::string_view preformattedHeaders = {});
  // Streams the body from a pipe's read end (non-blocking) with splice(), zero copy. `length`
  // >= 0 is sent as Content-Length and exactly that many bytes are moved; -1 means "until the
  // pipe's EOF", sent close-delimited (the connection closes after this response).

  void upgradeToTunnel(kj::ArrayPtr<const HeaderOut> headers, AutoCloseFd toApp,
                       AutoCloseFd fromApp);
  // Answers "101 Switching Protocols" (WebSocket) with `headers` (Upgrade, Connection and
  // Sec-WebSocket-Accept are the caller's to set), then turns the connection into a tunnel: the
  // client's bytes are spliced into `toApp` (a pipe's write end) and `fromApp` (a pipe's read
  // end) into the client, unparsed, until either side closes. Must be deferred.

  void defer(kj::Promise<void> work);
  // The handler answers later: `work` must call respond*() before it completes (if it does not,
  // or throws, the client gets a 502). If the client disconnects first, `work` is cancelled by
  // destruction. Requests are answered in order: later pipelined requests wait.

  bool responded() const { return done; }

  Exchange(Connection& connection, const Request& request, std::string_view body)
      : connection(connection), req(&request), requestBody(body) {}
  // (Constructed by the server's connections only.)

private:
  friend class Connection;
  Connection& connection;
  const Request* req;
  std::string_view requestBody;
  kj::Maybe<AutoCloseFd> bodyPipe;
  bool done = false;
};

class Handler {
public:
  enum class BodyPolicy { BUFFER, STREAM };
  virtual BodyPolicy bodyPolicy(const Request& request) { return BodyPolicy::BUFFER; }
  // BUFFER: the body is read whole (413 over MAX_BUFFERED_BODY) before handle() runs.
  // STREAM: handle() runs as soon as the head is parsed; a Content-Length body then arrives
  // through Exchange::takeBodyPipe() (chunked bodies are still buffered, bounded).

  virtual void handle(Exchange& exchange) = 0;
  // Respond before returning, or call exchange.defer(). Exceptions become a 500.
protected:
  ~Handler() = default;
};

struct ServerStats {
  uint64_t connectionsAccepted = 0;
  uint64_t connectionsRefused = 0;   // over a connection cap
  uint64_t requests = 0;
  uint64_t badRequests = 0;          // answered 4xx/5xx by the framing layer itself
  uint64_t timeouts = 0;
  size_t openConnections = 0;
};

struct ServerOptions {
  // Defaults are base/limits.h; config (and tests) may change them.
  uint64_t headTimeoutMs = limits::HEAD_TIMEOUT_MS;
  uint64_t idleTimeoutMs = limits::KEEPALIVE_TIMEOUT_MS;
  uint64_t bodyTimeoutMs = limits::BODY_IDLE_TIMEOUT_MS;
  uint64_t sendTimeoutMs = limits::SEND_TIMEOUT_MS;
  unsigned maxConnections = limits::MAX_CONNECTIONS;
  unsigned maxConnectionsPerAddress = limits::MAX_CONNECTIONS_PER_ADDRESS;
  bool loopbackExempt = true;  // behind a reverse proxy every client is loopback
  HttpMetrics* metrics = nullptr;
  // Counters for /metrics, shared by the daemon's servers (it must outlive them); null: this
  // server keeps its own.
};

class Server {
public:
  Server(reactor::Reactor& reactor, Handler& handler, ServerOptions options = ServerOptions());
  ~Server() noexcept(false);
  KJ_DISALLOW_COPY(Server);

  void listen(AutoCloseFd listener);
  // Accepts connections on a bound, listening, non-blocking socket (base/fd.h listenTcp).

  kj::Promise<void> drain(uint64_t graceMs);
  // Graceful shutdown: stops accepting, closes idle connections, lets in-flight requests finish
  // (their responses say "Connection: close"), and force-closes whatever remains after
  // `graceMs`. Resolves when every connection is gone and every op has completed.

  const ServerStats& stats() const;

private:
  struct Impl;
  kj::Own<Impl> impl;
};

}  // namespace ss::http
