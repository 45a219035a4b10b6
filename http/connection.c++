#include "http/connection.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kj/debug.h>

#include "base/clock.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/syscall.h"
#include "http/head-parser.h"
#include "reactor/splice.h"

namespace ss::http {

namespace {
constexpr uint64_t LINGER_MS = 2000;
// After our final response we read and discard for this long so the client sees the response
// rather than a TCP reset caused by unread data (nginx's lingering_close).
}  // namespace

ServerContext::ServerContext(reactor::Reactor& reactor, Handler& handler,
                             const ServerOptions& options)
    : reactor(reactor), handler(handler), options(options),
      headQueue(options.headTimeoutMs), idleQueue(options.idleTimeoutMs),
      bodyQueue(options.bodyTimeoutMs), sendQueue(options.sendTimeoutMs),
      lingerQueue(LINGER_MS),
      metrics(options.metrics != nullptr ? *options.metrics : ownMetrics) {
  for (auto* queue: {&headQueue, &idleQueue, &bodyQueue, &sendQueue, &lingerQueue}) {
    reactor.addDeadlineQueue(*queue);
  }
}

ServerContext::~ServerContext() noexcept(false) {
  for (auto* queue: {&headQueue, &idleQueue, &bodyQueue, &sendQueue, &lingerQueue}) {
    reactor.removeDeadlineQueue(*queue);
  }
}

// ---- Exchange -------------------------------------------------------------------------------

struct Connection::Active {
  // An owned copy of the request (views point into `head` and `body`), so the connection's
  // input buffer can keep filling while the request is answered.
  kj::Array<char> head;
  kj::Array<char> body;
  kj::Own<Request> request = kj::heap<Request>();  // 3+ KiB: freed once a tunnel starts
  kj::Own<Exchange> exchange;
  kj::Maybe<kj::Promise<void>> work;       // deferred handler work

  // Request body -> pipe (STREAM policy).
  AutoCloseFd bodyWrite;
  uint64_t bodyRemaining = 0;              // body bytes still to come from the socket
  std::string bodyPending;                 // body bytes received with the head, not yet piped
  kj::Maybe<kj::Promise<void>> bodyPump;
  bool bodyDone = true;

  // WebSocket tunnel after a 101: client -> toApp, fromApp -> client.
  AutoCloseFd tunnelToApp;
  AutoCloseFd tunnelFromApp;
  bool tunnel = false;
  kj::Maybe<kj::Promise<void>> tunnelPumps;

  // Response body pipe -> socket.
  AutoCloseFd responsePipe;
  int64_t responseLength = -1;
  uint64_t responseMoved = 0;          // updated by the pump (declared before it: outlives it)
  uint64_t responseMovedAtCheck = 0;   // at the last send-deadline check
  kj::Maybe<kj::Promise<void>> responsePump;
  bool responseDone = false;
};

kj::Maybe<AutoCloseFd> Exchange::takeBodyPipe() {
  auto result = kj::mv(bodyPipe);
  bodyPipe = nullptr;
  return result;
}

void Exchange::respond(uint16_t status, std::initializer_list<HeaderOut> headers,
                       std::string_view body, std::string_view preformattedHeaders) {
  respond(status, kj::arrayPtr(headers.begin(), headers.size()), body, preformattedHeaders);
}

void Exchange::respond(uint16_t status, kj::ArrayPtr<const HeaderOut> headers,
                       std::string_view body, std::string_view preformattedHeaders) {
  KJ_REQUIRE(!done, "respond() called twice");
  done = true;
  connection.queueResponse(status, headers.begin(), headers.size(), preformattedHeaders, body,
                           req->isHead());
}

void Exchange::respondWithPipe(uint16_t status, kj::ArrayPtr<const HeaderOut> headers,
                               AutoCloseFd body, int64_t length,
                               std::string_view preformattedHeaders) {
  KJ_REQUIRE(!done, "respond() called twice");
  done = true;
  connection.queuePipeResponse(status, headers.begin(), headers.size(), preformattedHeaders,
                               kj::mv(body), length);
}

void Exchange::upgradeToTunnel(kj::ArrayPtr<const HeaderOut> headers, AutoCloseFd toApp,
                               AutoCloseFd fromApp) {
  KJ_REQUIRE(!done, "respond() called twice");
  done = true;
  connection.queueTunnel(headers.begin(), headers.size(), kj::mv(toApp), kj::mv(fromApp));
}

void Exchange::defer(kj::Promise<void> work) {
  connection.deferExchange(kj::mv(work));
}

// ---- Connection -----------------------------------------------------------------------------

namespace {

// Destroys `object` on a later turn. Used for state that owns the promise whose continuation
// is running right now (destroying a promise from inside its own continuation is not allowed).
template <typename T>
void destroyLater(kj::Own<T> object) {
  kj::evalLater([object = kj::mv(object)]() {}).detach([](kj::Exception&&) {});
}

kj::Promise<void> writeAllToPipe(reactor::Reactor& reactor, int fd, std::string data,
                                 size_t offset = 0) {
  while (offset < data.size()) {
    ssize_t n = ::write(fd, data.data() + offset, data.size() - offset);
    if (n > 0) {
      offset += n;
    } else if (n < 0 && errno == EAGAIN) {
      return reactor.whenWritable(fd).then(
          [&reactor, fd, data = kj::mv(data), offset]() mutable {
            return writeAllToPipe(reactor, fd, kj::mv(data), offset);
          });
    } else if (n < 0 && errno != EINTR) {
      int error = errno;
      return KJ_EXCEPTION(DISCONNECTED, "request body pipe closed by the reader",
                          errnoName(error));
    }
  }
  return kj::READY_NOW;
}

constexpr int BODY_PIPE_SIZE = 1 << 20;  // fewer wake-ups per MiB; falls back to the default

}  // namespace

Connection::Connection(ServerContext& context, int fd, uint64_t addressKey)
    : context(context), fd(fd), addressKey(addressKey) {
  next = context.connections;
  if (next != nullptr) next->prev = this;
  context.connections = this;
  context.stats.openConnections++;
  context.metrics.openConnections++;
  updateRecv();
  updateDeadline(false);
}

Connection::~Connection() noexcept(false) {
  if (prev != nullptr) prev->next = next; else context.connections = next;
  if (next != nullptr) next->prev = prev;
  context.stats.openConnections--;
  context.metrics.openConnections--;
  if (websocket) context.metrics.websocketsOpen--;
  if (addressKey != 0) {
    auto it = context.perAddress.find(addressKey);
    if (it != context.perAddress.end() && --it->second == 0) context.perAddress.erase(it);
  }
}

void Connection::onRecv(int32_t res, uint32_t flags) {
  if (res > 0) {
    uint16_t id = flags >> IORING_CQE_BUFFER_SHIFT;
    auto bytes = context.reactor.buffers().take(id, res);
    std::string_view data(bytes.begin(), bytes.size());
    if (state != State::LINGER && state != State::CLOSED && state != State::CLOSING) {
      KJ_IF_MAYBE(a, active) {
        if (!(*a)->bodyDone && (*a)->bodyRemaining > 0) {
          // A streamed request body: its bytes go to the pipe, whatever follows is the next
          // request.
          size_t take = std::min<uint64_t>((*a)->bodyRemaining, data.size());
          (*a)->bodyPending.append(data.substr(0, take));
          (*a)->bodyRemaining -= take;
          data.remove_prefix(take);
        }
      }
      input.append(data);
    }
    context.reactor.buffers().recycle(id);
  } else if (res == 0) {
    peerClosed = true;
  } else if (res == -ENOBUFS) {
    // Every shared buffer is in use: wait for a recycle rather than spinning (buffer-ring.h).
    waitingForBuffers = true;
    context.reactor.whenBuffersAvailable([this]() {
      waitingForBuffers = false;
      if (state == State::CLOSED) {
        maybeDestroy();
      } else {
        updateRecv();
      }
    });
  } else if (res != -ECANCELED) {
    peerClosed = true;  // ECONNRESET and friends: nothing more will come
  }

  switch (state) {
    case State::CLOSED:
      maybeDestroy();
      return;
    case State::LINGER:
      if (peerClosed) closeNow(); else updateRecv();
      return;
    case State::CLOSING:
      if (peerClosed && sending.empty() && out.empty()) closeNow();
      return;
    case State::EXCHANGE: {
      auto& a = *KJ_ASSERT_NONNULL(active);
      if (peerClosed) {
        if (!a.exchange->done) {
          // Nobody is waiting for the answer any more: cancel the work (e.g. a grain call).
          abortExchange("client went away");
          return;
        }
        closeAfterResponse = true;
      }
      if (!a.bodyDone) startBodyPipe();
      if (a.tunnel && a.exchange->done && sending.empty() && out.empty()) startTunnel();
      updateRecv();
      return;
    }
    default:
      break;
  }
  if (peerClosed) {
    // The client went away. A response still being sent may yet reach a half-closed client,
    // but no new request can complete: finish sending, then close.
    if (sending.empty() && out.empty()) {
      closeNow();
    } else {
      state = State::CLOSING;
    }
    return;
  }
  process();
  if (state != State::CLOSED) {
    updateRecv();
    updateDeadline(res > 0);
  }
}

void Connection::process() {
  // Bounded: each iteration consumes a whole request from `input` or stops.
  while (state == State::IDLE || state == State::HEAD || state == State::BODY) {
    if (out.size() + sending.size() > limits::MAX_PENDING_OUTPUT) return;  // resumes in onSend
    bool progressed = state == State::BODY ? processBody() : processHead();
    if (!progressed) return;
  }
}

bool Connection::processHead() {
  if (input.empty()) {
    state = State::IDLE;
    return false;
  }
  HeadResult result = parseHead(input, context.scratch);
  switch (result.kind) {
    case HeadResult::INCOMPLETE:
      state = State::HEAD;
      return false;
    case HeadResult::ERROR:
      failAndClose(result.status, result.reason);
      return false;
    case HeadResult::COMPLETE:
      break;
  }
  const Request& request = context.scratch;
  keepAlive = request.keepAlive;
  http10 = request.versionMinor == 0;
  headBytes = result.headBytes;
  framing = request.framing;
  contentLength = request.contentLength;
  if (framing == BodyFraming::NONE) {
    dispatch({}, headBytes, false);
    return state == State::IDLE || state == State::HEAD;
  }
  if (framing == BodyFraming::LENGTH &&
      context.handler.bodyPolicy(request) == http::Handler::BodyPolicy::STREAM) {
    // Streamed to the handler through a pipe: no size limit here (the handler has its own).
    dispatch({}, headBytes, true);
    return state == State::IDLE || state == State::HEAD;
  }
  if (framing == BodyFraming::LENGTH && contentLength > limits::MAX_BUFFERED_BODY) {
    // Decided from the head alone: never "100 Continue" a body we would refuse.
    failAndClose(413, "request body too large");
    return false;
  }
  state = State::BODY;
  chunkedRawConsumed = 0;
  chunkedBody.clear();
  if (framing == BodyFraming::CHUNKED) chunked = kj::heap<ChunkedDecoder>();
  if (request.expectContinue && input.size() == headBytes) {
    static constexpr std::string_view CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n";
    out.append(CONTINUE);
    flush();
  }
  return true;
}

bool Connection::processBody() {
  std::string_view body;
  size_t consumed;
  if (framing == BodyFraming::LENGTH) {
    if (input.size() - headBytes < contentLength) return false;
    body = std::string_view(input).substr(headBytes, contentLength);
    consumed = headBytes + contentLength;
  } else {
    auto& decoder = *KJ_ASSERT_NONNULL(chunked);
    bool tooBig = false;
    auto step = decoder.feed(std::string_view(input).substr(headBytes + chunkedRawConsumed),
                             [&](std::string_view data) {
      if (chunkedBody.size() + data.size() > limits::MAX_BUFFERED_BODY) {
        tooBig = true;
      } else {
        chunkedBody.append(data);
      }
    });
    chunkedRawConsumed += step.consumed;
    if (tooBig) {
      failAndClose(413, "request body too large");
      return false;
    }
    if (step.state == ChunkedDecoder::State::ERROR) {
      failAndClose(400, step.reason);
      return false;
    }
    if (step.state == ChunkedDecoder::State::MORE) {
      // Keep raw input bounded even if a client streams chunk framing overhead.
      if (chunkedRawConsumed > limits::MAX_BUFFERED_BODY + limits::MAX_PENDING_INPUT) {
        failAndClose(413, "request body too large");
      }
      return false;
    }
    body = chunkedBody;
    consumed = headBytes + chunkedRawConsumed;
  }
  // The scratch Request may have been reused by another connection while this body arrived:
  // parse the head again (cheap, and the bytes are still at the front of `input`).
  HeadResult again = parseHead(input, context.scratch);
  KJ_ASSERT(again.kind == HeadResult::COMPLETE && again.headBytes == headBytes);
  dispatch(body, consumed, false);
  chunked = nullptr;
  return state == State::IDLE || state == State::HEAD;
}

Connection::Active& Connection::activate(Exchange& exchange) {
  // Own the request's bytes: `input` keeps changing while the request is answered. The head is
  // still at the front of `input` here.
  auto a = kj::heap<Active>();
  a->head = kj::heapArray<char>(input.data(), headBytes);
  auto body = exchange.requestBody;
  a->body = kj::heapArray<char>(body.data(), body.size());
  HeadResult again = parseHead(std::string_view(a->head.begin(), a->head.size()), *a->request);
  KJ_ASSERT(again.kind == HeadResult::COMPLETE);
  exchange.req = a->request.get();
  exchange.requestBody = std::string_view(a->body.begin(), a->body.size());
  auto& result = *a;
  active = kj::mv(a);
  return result;
}

void Connection::dispatch(std::string_view body, size_t consumed, bool streamBody) {
  context.stats.requests++;
  requestStartNs = monotonicNowNs();
  fresh = false;
  if (context.draining) keepAlive = false;
  closeAfterResponse = !keepAlive;
  // An upgrade answered with anything but 101 ends the connection: the client may already be
  // sending frames, which must never be parsed as a next request.
  if (context.scratch.websocketUpgrade) closeAfterResponse = true;
  state = State::EXCHANGE;

  // Heap-allocated: a handler that defers keeps using it after handle() returns.
  auto exchange = kj::heap<Exchange>(*this, context.scratch, body);
  current = exchange.get();
  if (streamBody && contentLength > 0) {
    auto& a = activate(*exchange);
    int fds[2];
    KJ_SYSCALL(pipe2(fds, O_CLOEXEC | O_NONBLOCK));
    fcntl(fds[1], F_SETPIPE_SZ, BODY_PIPE_SIZE);  // best effort: a smaller pipe also works
    exchange->bodyPipe = AutoCloseFd(fds[0]);
    a.bodyWrite = AutoCloseFd(fds[1]);
    a.bodyDone = false;
    // Body bytes that arrived with the head go first.
    size_t prefix = std::min<uint64_t>(input.size() - headBytes, contentLength);
    a.bodyPending.assign(input.data() + headBytes, prefix);
    a.bodyRemaining = contentLength - prefix;
    consumed = headBytes + prefix;
  }

  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { context.handler.handle(*exchange); })) {
    SS_LOG(ERROR, "http", "handler failed", e->getDescription());
    if (!exchange->responded()) {
      closeAfterResponse = true;
      exchange->respond(500, {{"Content-Type", "text/plain; charset=utf-8"}},
                        "500 Internal Server Error\n");
    }
  }
  current = nullptr;
  input.erase(0, consumed);
  chunkedBody.clear();

  KJ_IF_MAYBE(a, active) {
    (*a)->exchange = kj::mv(exchange);
    if (!(*a)->bodyDone) startBodyPipe();
    finishExchangeIfDone();
    return;
  }
  KJ_ASSERT(exchange->responded(), "HTTP handler returned without responding or deferring");
  // The common, synchronous case: answered and done.
  if (closeAfterResponse) {
    state = State::CLOSING;
    input.clear();
  } else {
    state = input.empty() ? State::IDLE : State::HEAD;
  }
}

void Connection::deferExchange(kj::Promise<void> work) {
  if (active == nullptr) {
    KJ_REQUIRE(current != nullptr, "defer() must be called from inside Handler::handle()");
    activate(*current);
  }
  auto& a = *KJ_ASSERT_NONNULL(active);
  KJ_REQUIRE(a.work == nullptr, "defer() called twice");
  a.work = work.then([this]() {
    if (state == State::CLOSED) return;
    auto& act = *KJ_ASSERT_NONNULL(active);
    if (!act.exchange->done) {
      closeAfterResponse = true;
      act.exchange->respond(502, {{"Content-Type", "text/plain; charset=utf-8"}},
                            "502 Bad Gateway: no response\n");
    }
    finishExchangeIfDone();
  }, [this](kj::Exception&& e) {
    if (state == State::CLOSED) return;
    auto& act = *KJ_ASSERT_NONNULL(active);
    SS_LOG(WARNING, "http", "deferred request failed", e.getDescription());
    if (!act.exchange->done) {
      closeAfterResponse = true;
      act.exchange->respond(502, {{"Content-Type", "text/plain; charset=utf-8"}},
                            "502 Bad Gateway\n");
      finishExchangeIfDone();
    } else {
      abortExchange("response failed midway");
    }
  }).eagerlyEvaluate(nullptr);
}

void Connection::startBodyPipe() {
  if (state == State::CLOSED) return;
  auto& a = *KJ_ASSERT_NONNULL(active);
  if (a.bodyDone || a.bodyPump != nullptr) return;
  // splice() needs the socket to ourselves: stop the multishot recv first. Its last CQE may
  // still carry body bytes; onRecv routes them to bodyPending.
  if (recvOp.inFlight()) {
    context.reactor.cancel(recvOp);
    return;  // called again from onRecv when the recv has ended
  }
  if (waitingForBuffers) return;
  int writeFd = a.bodyWrite;
  uint64_t remaining = a.bodyRemaining;
  a.bodyRemaining = 0;
  auto pending = kj::mv(a.bodyPending);
  a.bodyPending = std::string();
  a.bodyPump = writeAllToPipe(context.reactor, writeFd, kj::mv(pending))
      .then([this, writeFd, remaining]() -> kj::Promise<void> {
    if (remaining == 0) return kj::READY_NOW;
    return reactor::splicePump(context.reactor, fd, writeFd, remaining)
        .then([this, remaining](uint64_t moved) {
      if (moved < remaining) {
        // The client closed mid-body: the app sees a short body (its problem to reject) and
        // this connection cannot carry another request.
        peerClosed = true;
        closeAfterResponse = true;
      }
    });
  }).then([this]() {
    auto& act = *KJ_ASSERT_NONNULL(active);
    act.bodyWrite = nullptr;  // EOF for the reader
    act.bodyDone = true;
    finishExchangeIfDone();
    if (state != State::CLOSED) updateRecv();
  }, [this](kj::Exception&& e) {
    // The reader (the grain) closed its end early, or the socket failed: the rest of the body
    // cannot be delivered, so the connection cannot continue after this response.
    auto& act = *KJ_ASSERT_NONNULL(active);
    act.bodyWrite = nullptr;
    act.bodyDone = true;
    closeAfterResponse = true;
    finishExchangeIfDone();
  }).eagerlyEvaluate(nullptr);
}

void Connection::queueResponse(uint16_t status, const HeaderOut* headers, size_t count,
                               std::string_view extra, std::string_view body, bool headOnly) {
  if (state == State::CLOSED) return;  // the client is gone; deferred work answered too late
  countResponse(status);
  appendResponse(out, context.date, status, headers, count, extra, body, headOnly,
                 closeAfterResponse, http10);
  flush();
}

void Connection::queuePipeResponse(uint16_t status, const HeaderOut* headers, size_t count,
                                   std::string_view extra, AutoCloseFd pipe, int64_t length) {
  if (state == State::CLOSED) return;
  if (active == nullptr) {
    KJ_FAIL_REQUIRE("respondWithPipe() needs a request dispatched as asynchronous; call defer()");
  }
  auto& a = *KJ_ASSERT_NONNULL(active);
  bool headOnly = a.request->isHead() || statusHasNoBody(status);
  countResponse(status);
  if (length < 0 && !headOnly) closeAfterResponse = true;  // close-delimited body
  appendResponseHead(out, context.date, status, headers, count, extra, length,
                     closeAfterResponse, http10);
  if (headOnly) {
    a.responseDone = true;  // the pipe closes unread
  } else {
    a.responsePipe = kj::mv(pipe);
    a.responseLength = length;
  }
  flush();
}

void Connection::queueTunnel(const HeaderOut* headers, size_t count, AutoCloseFd toApp,
                             AutoCloseFd fromApp) {
  if (state == State::CLOSED) return;
  KJ_REQUIRE(active != nullptr, "upgradeToTunnel() must be called from deferred work");
  auto& a = *KJ_ASSERT_NONNULL(active);
  closeAfterResponse = true;  // after the tunnel, nothing else travels on this connection
  countResponse(101);
  appendResponseHead(out, context.date, 101, headers, count, {}, -1, false, false);
  a.tunnel = true;
  a.tunnelToApp = kj::mv(toApp);
  a.tunnelFromApp = kj::mv(fromApp);
  updateRecv();  // stops the multishot recv: the tunnel splices from the socket
  flush();
}

void Connection::startTunnel() {
  if (state == State::CLOSED) return;
  auto& a = *KJ_ASSERT_NONNULL(active);
  if (a.tunnelPumps != nullptr) return;
  if (recvOp.inFlight() || waitingForBuffers) return;  // resumed from onRecv when it ends
  if (!websocket) {
    websocket = true;
    context.metrics.websocketsOpen++;
  }
  // A long-lived tunnel keeps nothing of its request: the handler has answered (101) and its
  // work is done, so the 3+ KiB parsed head goes (idle WebSockets stay small).
  static const Request NO_REQUEST;
  a.exchange->req = &NO_REQUEST;
  a.exchange->requestBody = {};
  a.request = nullptr;
  a.head = nullptr;
  a.body = nullptr;
  // Bytes the client sent right after its handshake (already read) go first.
  std::string early = kj::mv(input);
  input = std::string();
  int toApp = a.tunnelToApp;
  int fromApp = a.tunnelFromApp;
  auto up = writeAllToPipe(context.reactor, toApp, kj::mv(early))
      .then([this, toApp]() {
        return reactor::splicePump(context.reactor, fd, toApp);
      }).then([this](uint64_t) {
        // Client finished sending: tell the app (EOF on its pipe).
        KJ_ASSERT_NONNULL(active)->tunnelToApp = nullptr;
      }).eagerlyEvaluate(nullptr);  // KJ joins run continuations lazily: this one must not wait
  auto down = reactor::splicePump(context.reactor, fromApp, fd).then([this](uint64_t) {
    ::shutdown(fd, SHUT_WR);
  }).eagerlyEvaluate(nullptr);
  // Whichever direction ends first with an error ends the tunnel; a clean end of one direction
  // waits for the other (a WebSocket close handshake travels both ways).
  a.tunnelPumps = kj::joinPromises(kj::arr(kj::mv(up), kj::mv(down)))
      .then([this]() {
        abortExchange("tunnel closed");
      }, [this](kj::Exception&& e) {
        abortExchange("tunnel failed");
      }).eagerlyEvaluate(nullptr);
}

void Connection::startResponsePump() {
  if (state == State::CLOSED) return;
  auto& a = *KJ_ASSERT_NONNULL(active);
  if (a.responsePump != nullptr || a.responseDone || a.responsePipe == nullptr) return;
  uint64_t limit = a.responseLength >= 0 ? uint64_t(a.responseLength) : UINT64_MAX;
  int64_t length = a.responseLength;
  a.responsePump = reactor::splicePump(context.reactor, a.responsePipe, fd, limit,
                                       &a.responseMoved)
      .then([this, length](uint64_t moved) {
    auto& act = *KJ_ASSERT_NONNULL(active);
    act.responsePipe = nullptr;
    if (length >= 0 && moved < uint64_t(length)) {
      // The grain promised more than it sent: the framing is broken, close.
      abortExchange("response body shorter than its Content-Length");
      return;
    }
    act.responseDone = true;
    finishExchangeIfDone();
  }, [this](kj::Exception&& e) {
    abortExchange("client stopped reading the response");
  }).eagerlyEvaluate(nullptr);
  if (a.responsePump != nullptr) updateDeadline(false);  // the send deadline covers the pump
}

bool Connection::pumpingResponse() {
  KJ_IF_MAYBE(a, active) {
    return (*a)->responsePump != nullptr && !(*a)->responseDone;
  }
  return false;
}

void Connection::finishExchangeIfDone() {
  if (state == State::CLOSED) return;
  KJ_IF_MAYBE(a, active) {
    auto& act = **a;
    if (!act.exchange->done) return;
    if (act.tunnel) {
      if (sending.empty() && out.empty()) startTunnel();
      return;  // the tunnel ends the connection itself
    }
    if (act.responsePipe != nullptr || (!act.responseDone && act.responsePump != nullptr)) {
      if (sending.empty() && out.empty()) startResponsePump();
      return;
    }
    if (!act.bodyDone) {
      // Answered before the body was read: stop reading it; this connection cannot continue.
      closeAfterResponse = true;
    }
    destroyLater(kj::mv(*a));
    active = nullptr;
  } else {
    return;
  }
  if (state == State::CLOSED) return;
  if (closeAfterResponse) {
    state = State::CLOSING;
    input.clear();
    if (sending.empty() && out.empty()) {
      if (peerClosed) closeNow(); else beginLinger();
    }
    return;
  }
  state = input.empty() ? State::IDLE : State::HEAD;
  process();
  if (state != State::CLOSED) {
    updateRecv();
    updateDeadline(false);
  }
}

void Connection::abortExchange(const char* why) {
  SS_LOG(DEBUG, "http", "request aborted", why);
  closeNow();
}

void Connection::countResponse(uint16_t status) {
  context.metrics.countResponse(status);
  // A framing error (failAndClose) has no dispatched request: its class counts, no duration.
  if (requestStartNs != 0) {
    context.metrics.requestDuration.observeNs(monotonicNowNs() - requestStartNs);
    requestStartNs = 0;
  }
}

void Connection::failAndClose(uint16_t status, const char* reason) {
  context.stats.badRequests++;
  closeAfterResponse = true;
  auto text = kj::str(status, " ", statusText(status).data(), ": ", reason, "\n");
  // statusText() views are NUL-terminated literals, so .data() is safe to print.
  queueResponse(status, nullptr, 0, "Content-Type: text/plain; charset=utf-8\r\n",
                std::string_view(text.begin(), text.size()), false);
  state = State::CLOSING;
  input.clear();
}

void Connection::flush() {
  if (sendOp.inFlight() || out.empty()) return;
  sending.swap(out);
  out.clear();
  sendingOffset = 0;
  context.reactor.prepareSend(sendOp, fd, sending.data(), sending.size());
}

void Connection::onSend(int32_t res, uint32_t flags) {
  if (state == State::CLOSED) {
    maybeDestroy();
    return;
  }
  if (res < 0) {
    // EPIPE/ECONNRESET: the client is gone; ECANCELED: we are closing.
    closeNow();
    return;
  }
  sendingOffset += res;
  if (sendingOffset < sending.size()) {
    // Short send (socket buffer full): continue from where the kernel stopped.
    context.reactor.prepareSend(sendOp, fd, sending.data() + sendingOffset,
                                sending.size() - sendingOffset);
    updateDeadline(true);
    return;
  }
  sending.clear();
  if (!out.empty()) {
    flush();
    updateDeadline(true);
    return;
  }
  // Everything sent. An idle keep-alive connection should cost almost nothing (goal: < 1 KiB),
  // so give the buffers back; glibc's per-thread cache makes the next request's allocation
  // cheap. Pipelined input still waiting keeps its buffer.
  std::string().swap(sending);
  std::string().swap(out);
  if (input.empty()) std::string().swap(input);
  if (state == State::EXCHANGE) {
    finishExchangeIfDone();  // starts a response pump waiting for its head to be sent
    if (state != State::CLOSED) updateDeadline(false);
    return;
  }
  if (state == State::CLOSING) {
    if (peerClosed) closeNow(); else beginLinger();
    return;
  }
  // Back-pressure released: parse requests that were waiting for output room.
  process();
  if (state != State::CLOSED) {
    updateRecv();
    updateDeadline(false);
  }
}

void Connection::updateRecv() {
  size_t allowance = state == State::BODY
      ? headBytes + limits::MAX_BUFFERED_BODY + limits::MAX_PENDING_INPUT
      : limits::MAX_PENDING_INPUT;
  bool bodyStreaming = false;
  KJ_IF_MAYBE(a, active) bodyStreaming = !(*a)->bodyDone || (*a)->tunnel;
  bool want = !peerClosed && !bodyStreaming && (state == State::LINGER ||
      (state != State::CLOSING && state != State::CLOSED && input.size() < allowance &&
       out.size() + sending.size() <= limits::MAX_PENDING_OUTPUT));
  if (want) {
    if (!recvOp.inFlight() && !waitingForBuffers) context.reactor.prepareRecv(recvOp, fd);
  } else if (recvOp.inFlight() && state != State::CLOSING) {
    context.reactor.cancel(recvOp);
  }
}

void Connection::updateDeadline(bool progress) {
  reactor::DeadlineQueue* queue;
  bool restart = false;
  if (state == State::LINGER) {
    queue = &context.lingerQueue;
  } else if (!sending.empty()) {
    queue = &context.sendQueue;
    restart = progress;
  } else if (state == State::EXCHANGE && pumpingResponse()) {
    // A spliced response body: a client that stops reading is dropped like one that stops
    // reading a buffered response (progress is checked when the deadline fires).
    queue = &context.sendQueue;
  } else if (state == State::EXCHANGE) {
    // The handler (e.g. a grain) bounds its own time; request-body pumps end with their peers.
    deadline.disarm();
    deadlineQueue = nullptr;
    return;
  } else if (state == State::BODY) {
    queue = &context.bodyQueue;
    restart = progress;
  } else if (state == State::HEAD || fresh) {
    // A fresh connection must send its first request within the head deadline; after a
    // response it is an idle keep-alive connection with the longer idle deadline.
    queue = &context.headQueue;
  } else {
    queue = &context.idleQueue;
  }
  if (queue != deadlineQueue || restart || !deadline.armed()) {
    queue->arm(deadline, context.reactor.now());
    deadlineQueue = queue;
  }
}

void Connection::onDeadline() {
  deadlineQueue = nullptr;
  if (state == State::EXCHANGE && sending.empty() && pumpingResponse()) {
    // The pump reports progress through a counter: any since the last check restarts the
    // deadline, so a stalled body is dropped after one to two send timeouts.
    auto& a = *KJ_ASSERT_NONNULL(active);
    if (a.responseMoved != a.responseMovedAtCheck) {
      a.responseMovedAtCheck = a.responseMoved;
      updateDeadline(false);
      return;
    }
  }
  context.stats.timeouts++;
  switch (state) {
    case State::HEAD:
      failAndClose(408, "request head not received in time");
      updateDeadline(false);
      return;
    case State::BODY:
      if (sending.empty()) {
        failAndClose(408, "request body stalled");
        updateDeadline(false);
        return;
      }
      break;
    default:
      break;
  }
  closeNow();
}

void Connection::beginLinger() {
  // Half-close: the client sees EOF after our final response, and we keep reading (and
  // discarding) so unread request bytes do not turn into a reset that destroys the response.
  ::shutdown(fd, SHUT_WR);
  state = State::LINGER;
  input.clear();
  updateRecv();
  updateDeadline(false);
}

void Connection::startDrain() {
  if (state == State::IDLE && input.empty() && sending.empty() && out.empty()) {
    closeNow();
  }
  // Otherwise dispatch() sees context.draining and answers with Connection: close.
}

void Connection::forceClose() {
  if (state != State::CLOSED) closeNow();
}

void Connection::closeNow() {
  if (state == State::CLOSED) return;
  state = State::CLOSED;
  deadline.disarm();
  deadlineQueue = nullptr;
  if (recvOp.inFlight()) context.reactor.cancel(recvOp);
  if (sendOp.inFlight()) context.reactor.cancel(sendOp);
  // `active` (deferred work, pumps) is destroyed by maybeDestroy() on a later turn: we may be
  // inside one of its continuations right now. Until then every continuation sees CLOSED.
  maybeDestroy();
}

void Connection::maybeDestroy() {
  if (recvOp.inFlight() || sendOp.inFlight() || waitingForBuffers) return;
  if (active != nullptr) {
    // Deferred work or pumps still exist and may hold our fd number: destroy them first, on a
    // later turn (never from inside their own continuations), and only then close the fd (so a
    // stale pump can never touch a new connection that reuses the number) and free ourselves.
    if (destroyScheduled) return;
    destroyScheduled = true;
    kj::evalLater([this]() {
      active = nullptr;
      finalDestroy();
    }).detach([](kj::Exception&& e) {
      KJ_LOG(ERROR, "destroying a connection failed", e);
    });
    return;
  }
  finalDestroy();
}

void Connection::finalDestroy() {
  // The kernel holds nothing of ours any more: safe to close and free.
  ::close(fd);
  ServerContext& ctx = context;
  delete this;
  ctx.onConnectionClosed();
}

}  // namespace ss::http
