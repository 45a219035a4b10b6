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

#include "base/fd.h"
#include "base/limits.h"
#include "http/request.h"
#include "http/response.h"
#include "reactor/reactor.h"

namespace ss::http {

class Connection;

// One request being answered. Valid from Handler::handle() until respond() returns.
class Exchange {
public:
  const Request& request() const { return req; }
  std::string_view body() const { return requestBody; }  // whole body (buffered, bounded)

  void respond(uint16_t status, std::initializer_list<HeaderOut> headers, std::string_view body,
               std::string_view preformattedHeaders = {});
  // Sends a complete response with Content-Length (no body for HEAD, 1xx, 204, 304).
  // `preformattedHeaders` is appended verbatim ("Name: value\r\n" lines). Call exactly once.

  bool responded() const { return done; }

private:
  friend class Connection;
  Exchange(Connection& connection, const Request& request, std::string_view body)
      : connection(connection), req(request), requestBody(body) {}
  Connection& connection;
  const Request& req;
  std::string_view requestBody;
  bool done = false;
};

class Handler {
public:
  virtual void handle(Exchange& exchange) = 0;
  // Must call exchange.respond() before returning. (Asynchronous responses arrive with the
  // grain path, which streams bodies instead of buffering them.) Exceptions become a 500.
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
