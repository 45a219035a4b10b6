// One HTTP connection's state machine (internal to http/server.c++; not a public API).
#pragma once

#include <stdint.h>

#include <string>
#include <unordered_map>

#include <kj/async.h>
#include <kj/vector.h>

#include "http/chunked.h"
#include "http/server.h"
#include "reactor/deadline.h"
#include "reactor/op.h"

namespace ss::http {

class Listener;

// Shared by every connection of one Server: the reactor, the handler, deadline queues and
// scratch space (one thread, so one scratch Request serves every connection in turn: each
// Request is 3+ KiB, far too big to keep per idle connection).
struct ServerContext {
  ServerContext(reactor::Reactor& reactor, Handler& handler, const ServerOptions& options);
  ~ServerContext() noexcept(false);

  reactor::Reactor& reactor;
  Handler& handler;
  ServerOptions options;
  Request scratch;
  DateCache date;
  reactor::DeadlineQueue headQueue;    // fresh connection or partial head
  reactor::DeadlineQueue idleQueue;    // keep-alive between requests
  reactor::DeadlineQueue bodyQueue;    // body progress
  reactor::DeadlineQueue sendQueue;    // client reading our response
  reactor::DeadlineQueue lingerQueue;  // draining input after our final response
  ServerStats stats;
  HttpMetrics ownMetrics;
  HttpMetrics& metrics;                // options.metrics, else ownMetrics
  Connection* connections = nullptr;   // intrusive list, for drain
  bool draining = false;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> drained;
  std::unordered_map<uint64_t, uint32_t> perAddress;  // open connections per client address key
  kj::Function<void()> onConnectionClosed = []() {};  // lets a paused listener resume
};

class Connection final: private reactor::Deadline::Handler {
public:
  Connection(ServerContext& context, int fd, uint64_t addressKey);
  // Takes ownership of `fd` (accepted, non-blocking, close-on-exec) and starts reading.
  // `addressKey` is the client's entry in ServerContext::perAddress (0: not counted).

  void startDrain();
  // Server shutdown: close now if idle, else close after the current response.
  void forceClose();

  Connection* next = nullptr;  // ServerContext::connections list
  Connection* prev = nullptr;

private:
  friend class Exchange;
  enum class State : uint8_t {
    IDLE,       // between requests (or fresh): no partial head buffered
    HEAD,       // a partial head is buffered
    BODY,       // head parsed, reading a (bounded, buffered) body
    EXCHANGE,   // a request is being answered: deferred work, a body or a response streaming
    CLOSING,    // final response queued; no more requests are parsed
    LINGER,     // final response sent, write side shut; discarding input until EOF or timeout
    CLOSED,     // ops cancelled; destroyed once none is in flight
  };

  ~Connection() noexcept(false);
  void onRecv(int32_t res, uint32_t flags);
  void onSend(int32_t res, uint32_t flags);
  void onDeadline() override;
  bool pumpingResponse();  // a response body is being spliced to the client

  void process();
  bool processHead();
  bool processBody();
  void dispatch(std::string_view body, size_t consumed, bool streamBody);
  void finishExchangeIfDone();
  void queueResponse(uint16_t status, const HeaderOut* headers, size_t count,
                     std::string_view extra, std::string_view body, bool headOnly);
  void queueTunnel(const HeaderOut* headers, size_t count, AutoCloseFd toApp,
                   AutoCloseFd fromApp);
  void queuePipeResponse(uint16_t status, const HeaderOut* headers, size_t count,
                         std::string_view extra, AutoCloseFd pipe, int64_t length);
  void deferExchange(kj::Promise<void> work);
  struct Active;
  Active& activate(Exchange& exchange);
  void startBodyPipe();
  void feedBodyPipe(std::string_view bytes);
  void startResponsePump();
  void startTunnel();
  void failAndClose(uint16_t status, const char* reason);
  void countResponse(uint16_t status);
  void abortExchange(const char* why);
  void flush();
  void updateRecv();
  void updateDeadline(bool progress);
  void beginLinger();
  void closeNow();
  void maybeDestroy();
  void finalDestroy();

  ServerContext& context;
  int fd;
  uint64_t addressKey;
  State state = State::IDLE;
  bool keepAlive = true;          // of the request being handled
  bool http10 = false;            // the request being handled is HTTP/1.0
  bool closeAfterResponse = false;
  bool waitingForBuffers = false;
  bool peerClosed = false;
  bool fresh = true;              // no request dispatched yet
  bool destroyScheduled = false;  // maybeDestroy() queued the final teardown
  bool websocket = false;         // counted in metrics.websocketsOpen
  uint64_t requestStartNs = 0;    // dispatch time of the request not yet answered (0: none)
  reactor::OpTo<Connection, &Connection::onRecv> recvOp{*this};
  reactor::OpTo<Connection, &Connection::onSend> sendOp{*this};
  reactor::Deadline deadline{*this};
  reactor::DeadlineQueue* deadlineQueue = nullptr;

  std::string input;              // received, not yet consumed
  std::string out;                // responses queued behind the send in flight
  std::string sending;            // bytes the kernel is sending now
  size_t sendingOffset = 0;

  // BODY state
  size_t headBytes = 0;
  BodyFraming framing = BodyFraming::NONE;
  uint64_t contentLength = 0;
  size_t chunkedRawConsumed = 0;
  kj::Maybe<kj::Own<ChunkedDecoder>> chunked;
  std::string chunkedBody;

  // EXCHANGE state: everything one asynchronous or streaming request needs. Heap-allocated,
  // so idle connections stay small.
  kj::Maybe<kj::Own<Active>> active;
  Exchange* current = nullptr;    // the exchange whose handle() is running
};

}  // namespace ss::http
