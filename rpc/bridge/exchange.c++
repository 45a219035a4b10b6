#include "rpc/bridge/exchange.h"

#include <string.h>

#include <kj/debug.h>

#include "rpc/bridge/body-pump.h"
#include "rpc/bridge/limits.h"

namespace ss::bridge {

namespace {

[[noreturn]] void appWentAway(const char* when) {
  kj::throwFatalException(KJ_EXCEPTION(
      DISCONNECTED, kj::str("app closed the connection ", when, " (did it crash?)")));
}

// Everything one exchange owns; it outlives the RPC call when the body is piped.
struct Exchange {
  Exchange(AppConnector& connector, kj::Own<Connection> connection)
      : connector(connector), connection(kj::mv(connection)) {}
  AppConnector& connector;
  kj::Own<Connection> connection;
  kj::Own<ExchangeRequest> request;
  kj::Maybe<kj::Own<AsyncFd>> requestPipe;
  ResponseHead head;
  const char* reason = "";
  bool bodySent = false;
};

enum class Waited : uint8_t { HEAD, BAD, EMPTY_EOF, TIMEOUT };

kj::Promise<kj::Array<kj::byte>> readInlineBody(Connection& connection, size_t length) {
  if (connection.buffered().size() >= length) {
    auto body = kj::heapArray<kj::byte>(connection.buffered().slice(0, length));
    connection.consume(length);
    if (connection.buffered().size() > 0) connection.reusable = false;  // bytes after the body
    return kj::mv(body);
  }
  return connection.fill().then([&connection, length](size_t n) {
    if (n == 0) appWentAway("before the end of the response body");
    return readInlineBody(connection, length);
  });
}

// Sends the head (and inline body), then the piped body. Resolves never on success: it only
// matters when the platform's pipe ends early (which fails the call). A socket error just
// marks the connection; the response head (or EOF) tells what happened to the request.
kj::Promise<Waited> sendRequest(Exchange& ex) {
  auto& socket = ex.connection->socket();
  return socket.writeAll(ex.request->headAndBody)
      .then([&ex]() -> kj::Promise<bool> {
        KJ_IF_MAYBE(pipe, ex.requestPipe) {
          return sendPipedBody(**pipe, *ex.connection, ex.request->bodyPipeLength);
        }
        return true;
      })
      .then(
          [&ex](bool complete) -> kj::Promise<Waited> {
            if (!complete) {
              kj::throwFatalException(KJ_EXCEPTION(
                  DISCONNECTED, "request body ended early: the platform closed its pipe"));
            }
            ex.bodySent = true;
            return kj::NEVER_DONE;
          },
          [&ex](kj::Exception&&) -> kj::Promise<Waited> {
            ex.connection->reusable = false;
            return kj::NEVER_DONE;
          });
}

kj::Promise<ExchangeResult> respond(kj::Own<Exchange> ex, kj::TaskSet& background) {
  auto& connection = *ex->connection;
  // The app answered before taking the whole request: what is left of it would be read as the
  // next request.
  if (!ex->bodySent) connection.reusable = false;
  ex->requestPipe = nullptr;
  bool isHead = ex->request->isHead;
  auto framing = bodyFraming(ex->head, isHead);
  uint64_t length = 0;
  KJ_IF_MAYBE(cl, ex->head.contentLength) { length = *cl; }

  ExchangeResult result;
  result.kind = ExchangeResult::RESPONSE;
  if (framing == BodyFraming::NONE) {
    // HEAD and 304 describe a body they do not carry: its length is still worth relaying.
    bool describes = isHead || ex->head.status == 304;
    result.bodyLength = describes ? (ex->head.contentLength == nullptr ? -1 : int64_t(length)) : 0;
    result.head = kj::mv(ex->head);
    ex->connector.release(kj::mv(ex->connection));
    return kj::mv(result);
  }
  if (framing == BodyFraming::LENGTH && length <= limits::MAX_INLINE_BODY_BYTES) {
    auto body = readInlineBody(connection, length);
    return body.then([ex = kj::mv(ex), result = kj::mv(result)](
                         kj::Array<kj::byte> bytes) mutable {
      result.bodyLength = bytes.size();
      result.inlineBody = kj::mv(bytes);
      result.head = kj::mv(ex->head);
      ex->connector.release(kj::mv(ex->connection));
      return kj::mv(result);
    });
  }

  auto pipe = makeBodyPipe(ex->connector.eventPort());
  result.pipe = rpc::Handle::Client(kj::heap<PipeHandle>(kj::mv(pipe.readEnd)));
  result.bodyLength = framing == BodyFraming::LENGTH ? int64_t(length) : -1;
  result.head = kj::mv(ex->head);
  auto& writeEnd = *pipe.writeEnd;
  auto& exRef = *ex;
  // The platform closing the pipe (client gone) ends the pump even while the app is silent,
  // e.g. between server-sent events.
  auto abandoned = writeEnd.observer().whenWriteDisconnected().then(
      []() { KJ_FAIL_REQUIRE("the platform closed the response body pipe"); });
  background.add(
      pumpResponseBody(connection, writeEnd, framing, length, ex->connector.timer())
          .exclusiveJoin(kj::mv(abandoned))
          .then([&exRef, writeEnd = kj::mv(pipe.writeEnd)]() mutable {
            writeEnd = nullptr;  // EOF for the platform, before anything else
            exRef.connector.release(kj::mv(exRef.connection));
          })
          .attach(kj::mv(ex)));
  return kj::mv(result);
}

kj::Promise<ExchangeResult> attempt(AppConnector& connector, kj::TaskSet& background,
                                    kj::Own<ExchangeRequest> request, bool fresh) {
  return connector.acquire(fresh).then(
      [&connector, &background, request = kj::mv(request), fresh](
          kj::Maybe<kj::Own<Connection>> maybeConnection) mutable -> kj::Promise<ExchangeResult> {
        kj::Own<Connection> connection;
        KJ_IF_MAYBE(c, maybeConnection) {
          connection = kj::mv(*c);
        } else {
          ExchangeResult result;
          result.kind = ExchangeResult::PORT_NOT_OPEN;
          result.message = kj::str("The app did not open port ", connector.port(),
                                   " in time (it must listen on 127.0.0.1:", connector.port(),
                                   ").");
          return kj::mv(result);
        }
        auto ex = kj::heap<Exchange>(connector, kj::mv(connection));
        ex->request = kj::mv(request);
        KJ_IF_MAYBE(fd, ex->request->bodyPipe) {
          ex->requestPipe = kj::heap<AsyncFd>(connector.eventPort(), kj::mv(*fd));
          ex->request->bodyPipe = nullptr;
        }
        auto head = readResponseHead(*ex->connection, ex->head, ex->reason, false)
                        .then([](HeadOutcome o) {
                          switch (o) {
                            case HeadOutcome::COMPLETE: return Waited::HEAD;
                            case HeadOutcome::BAD: return Waited::BAD;
                            case HeadOutcome::EOF_BEFORE_ANY_BYTE: return Waited::EMPTY_EOF;
                          }
                          KJ_UNREACHABLE;
                        });
        auto timeout = connector.timer()
                           .afterDelay(limits::RESPONSE_HEAD_TIMEOUT)
                           .then([]() { return Waited::TIMEOUT; });
        auto waited = head.exclusiveJoin(sendRequest(*ex)).exclusiveJoin(kj::mv(timeout));
        // `ex` moves into the continuation; KJ destroys the awaited promise (which refers to
        // it) before the continuation's captures.
        return waited.then([&connector, &background, ex = kj::mv(ex), fresh](
                               Waited w) mutable -> kj::Promise<ExchangeResult> {
          ExchangeResult result;
          switch (w) {
            case Waited::HEAD:
              return respond(kj::mv(ex), background);
            case Waited::EMPTY_EOF:
              // A pooled connection the app closed just as we picked it: nothing reached the
              // app, so an inline request is safe to send again on a new connection.
              if (ex->connection->reused && !fresh && ex->requestPipe == nullptr) {
                return attempt(connector, background, kj::mv(ex->request), true);
              }
              appWentAway("without responding");
            case Waited::BAD:
              result.kind = ExchangeResult::BAD_RESPONSE;
              result.message = kj::str("The app sent an invalid HTTP response: ", ex->reason);
              return kj::mv(result);
            case Waited::TIMEOUT:
              result.kind = ExchangeResult::HEAD_TIMEOUT;
              result.message = kj::str("The app did not respond in time.");
              return kj::mv(result);
          }
          KJ_UNREACHABLE;
        });
      });
}

}  // namespace

kj::Promise<ExchangeResult> performExchange(AppConnector& connector, kj::TaskSet& background,
                                            ExchangeRequest request) {
  return attempt(connector, background, kj::heap(kj::mv(request)), false);
}

kj::Promise<HeadOutcome> readResponseHead(Connection& connection, ResponseHead& head,
                                          const char*& reason, bool allowSwitchingProtocols) {
  auto parsed = parseResponseHead(connection.buffered(), head);
  switch (parsed.kind) {
    case HeadParse::COMPLETE:
      connection.consume(parsed.headBytes);
      if (head.status == 101) {
        if (allowSwitchingProtocols) return HeadOutcome::COMPLETE;
        reason = "101 Switching Protocols without an upgrade request";
        return HeadOutcome::BAD;
      }
      if (head.status < 200) {
        // 100 Continue, 102 Processing, 103 Early Hints: interim, the final head follows.
        return readResponseHead(connection, head, reason, allowSwitchingProtocols);
      }
      return HeadOutcome::COMPLETE;
    case HeadParse::ERROR:
      reason = parsed.reason;
      connection.reusable = false;
      return HeadOutcome::BAD;
    case HeadParse::INCOMPLETE:
      break;
  }
  bool empty = connection.buffered().size() == 0;
  return connection.fill().then(
      [&connection, &head, &reason, allowSwitchingProtocols, empty](size_t n) {
        if (n == 0) {
          connection.reusable = false;
          if (empty) return kj::Promise<HeadOutcome>(HeadOutcome::EOF_BEFORE_ANY_BYTE);
          appWentAway("in the middle of the response head");
        }
        return readResponseHead(connection, head, reason, allowSwitchingProtocols);
      });
}

}  // namespace ss::bridge
