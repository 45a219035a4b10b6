#include "http/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <kj/debug.h>

#include "base/limits.h"
#include "base/log.h"
#include "http/head-parser.h"

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
      lingerQueue(LINGER_MS) {
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

void Exchange::respond(uint16_t status, std::initializer_list<HeaderOut> headers,
                       std::string_view body, std::string_view preformattedHeaders) {
  KJ_REQUIRE(!done, "respond() called twice");
  done = true;
  connection.queueResponse(status, headers.begin(), headers.size(), preformattedHeaders, body,
                           req.isHead());
}

// ---- Connection -----------------------------------------------------------------------------

Connection::Connection(ServerContext& context, int fd, uint64_t addressKey)
    : context(context), fd(fd), addressKey(addressKey) {
  next = context.connections;
  if (next != nullptr) next->prev = this;
  context.connections = this;
  context.stats.openConnections++;
  updateRecv();
  updateDeadline(false);
}

Connection::~Connection() noexcept(false) {
  if (prev != nullptr) prev->next = next; else context.connections = next;
  if (next != nullptr) next->prev = prev;
  context.stats.openConnections--;
  if (addressKey != 0) {
    auto it = context.perAddress.find(addressKey);
    if (it != context.perAddress.end() && --it->second == 0) context.perAddress.erase(it);
  }
}

void Connection::onRecv(int32_t res, uint32_t flags) {
  if (res > 0) {
    uint16_t id = flags >> IORING_CQE_BUFFER_SHIFT;
    auto bytes = context.reactor.buffers().take(id, res);
    if (state != State::LINGER && state != State::CLOSED && state != State::CLOSING) {
      input.append(bytes.begin(), bytes.size());
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
    dispatch({}, headBytes);
    return state != State::CLOSED;
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
        return false;
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
  dispatch(body, consumed);
  chunked = nullptr;
  return state != State::CLOSED;
}

void Connection::dispatch(std::string_view body, size_t consumed) {
  context.stats.requests++;
  fresh = false;
  if (context.draining) keepAlive = false;
  closeAfterResponse = !keepAlive;
  Exchange exchange(*this, context.scratch, body);
  KJ_IF_MAYBE(exception, kj::runCatchingExceptions([&]() { context.handler.handle(exchange); })) {
    SS_LOG(ERROR, "http", "handler failed", exception->getDescription());
    if (!exchange.responded()) {
      closeAfterResponse = true;
      exchange.respond(500, {{"Content-Type", "text/plain; charset=utf-8"}},
                       "500 Internal Server Error\n");
    }
  }
  KJ_ASSERT(exchange.responded(), "HTTP handler returned without responding");
  input.erase(0, consumed);
  chunkedBody.clear();
  if (closeAfterResponse) {
    state = State::CLOSING;
    input.clear();
  } else {
    state = input.empty() ? State::IDLE : State::HEAD;
  }
}

void Connection::queueResponse(uint16_t status, const HeaderOut* headers, size_t count,
                               std::string_view extra, std::string_view body, bool headOnly) {
  appendResponse(out, context.date, status, headers, count, extra, body, headOnly,
                 closeAfterResponse, http10);
  flush();
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
  bool want = !peerClosed && (state == State::LINGER ||
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
  state = State::CLOSED;
  deadline.disarm();
  deadlineQueue = nullptr;
  if (recvOp.inFlight()) context.reactor.cancel(recvOp);
  if (sendOp.inFlight()) context.reactor.cancel(sendOp);
  maybeDestroy();
}

void Connection::maybeDestroy() {
  if (recvOp.inFlight() || sendOp.inFlight() || waitingForBuffers) return;
  // The kernel holds nothing of ours any more: safe to close and free.
  ::close(fd);
  ServerContext& ctx = context;
  delete this;
  ctx.onConnectionClosed();
}

}  // namespace ss::http
