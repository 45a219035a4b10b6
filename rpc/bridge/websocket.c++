#include "rpc/bridge/websocket.h"

#include <strings.h>
#include <sys/random.h>

#include <kj/debug.h>
#include <kj/encoding.h>

#include "rpc/bridge/exchange.h"
#include "rpc/bridge/limits.h"
#include "http/websocket-accept.h"

namespace ss::bridge {

namespace {

struct Relay {
  kj::Own<Connection> connection;
  kj::Own<AsyncFd> upstream;
  kj::Own<AsyncFd> downstream;
  kj::Own<kj::String> head;
  kj::String key;
  ResponseHead response;
  const char* reason = "";
};

bool hasToken(const ResponseHead& head, kj::StringPtr name, kj::StringPtr token) {
  for (auto& h : head.headers) {
    if (!equalsIgnoreCase(h.name, name)) continue;
    kj::StringPtr v = h.value;
    size_t i = 0;
    while (i < v.size()) {
      size_t j = i;
      while (j < v.size() && v[j] != ',') ++j;
      size_t b = i, e = j;
      while (b < e && (v[b] == ' ' || v[b] == '\t')) ++b;
      while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t')) --e;
      if (e - b == token.size() && strncasecmp(v.begin() + b, token.begin(), e - b) == 0) {
        return true;
      }
      i = j + 1;
    }
  }
  return false;
}

kj::Array<kj::String> chosenProtocols(const ResponseHead& head) {
  kj::Vector<kj::String> out;
  for (auto& h : head.headers) {
    if (!equalsIgnoreCase(h.name, "sec-websocket-protocol")) continue;
    size_t i = 0;
    kj::StringPtr v = h.value;
    while (i < v.size()) {
      size_t j = i;
      while (j < v.size() && v[j] != ',') ++j;
      size_t b = i, e = j;
      while (b < e && v[b] == ' ') ++b;
      while (e > b && v[e - 1] == ' ') --e;
      if (e > b) out.add(kj::heapString(v.begin() + b, e - b));
      i = j + 1;
    }
  }
  return out.releaseAsArray();
}

// Both directions; resolves when the relay is over, and destroying it closes everything.
kj::Promise<void> relay(Relay& r, kj::Timer& timer) {
  auto& socket = r.connection->socket();
  // Client -> app. Its end does not end the relay: the app may still be sending its close
  // frame. Errors (the app closed its side) are left for the other direction to notice.
  auto up = spliceFd(*r.upstream, socket, {UINT64_MAX, nullptr})
                .then([&socket, &timer](uint64_t) {
                  socket.shutdownWrite();
                  return timer.afterDelay(limits::WEBSOCKET_CLOSE_GRACE);
                }, [](kj::Exception&&) -> kj::Promise<void> { return kj::NEVER_DONE; });
  // App -> client: bytes that arrived with the 101 first, then splice until the app closes.
  auto leftover = r.connection->buffered();
  auto down = r.downstream->writeAll(leftover, timer)
                  .then([&r, &socket, &timer, n = leftover.size()]() {
                    r.connection->consume(n);
                    return spliceFd(socket, *r.downstream, {UINT64_MAX, timer}).ignoreResult();
                  });
  auto abandoned = r.downstream->observer().whenWriteDisconnected();
  return down.exclusiveJoin(kj::mv(up)).exclusiveJoin(kj::mv(abandoned));
}

}  // namespace

kj::String newWebSocketKey() {
  kj::byte nonce[16];
  size_t got = 0;
  while (got < sizeof(nonce)) {
    ssize_t n;
    KJ_SYSCALL(n = getrandom(nonce + got, sizeof(nonce) - got, 0));
    got += n;
  }
  return kj::encodeBase64(kj::arrayPtr(nonce, sizeof(nonce)));
}

kj::Promise<kj::Array<kj::String>> openWebSocket(AppConnector& connector,
                                                 kj::TaskSet& background,
                                                 WebSocketRequest request) {
  auto r = kj::heap<Relay>();
  r->upstream = kj::heap<AsyncFd>(connector.eventPort(), kj::mv(request.upstream));
  r->downstream = kj::heap<AsyncFd>(connector.eventPort(), kj::mv(request.downstream));
  r->head = kj::heap(kj::mv(request.head));
  r->key = kj::mv(request.key);
  // A WebSocket holds its connection for its whole life, so it never takes a pooled one.
  return connector.acquire(true).then([&connector, &background, r = kj::mv(r)](
      kj::Maybe<kj::Own<Connection>> maybe) mutable -> kj::Promise<kj::Array<kj::String>> {
    KJ_IF_MAYBE(c, maybe) {
      r->connection = kj::mv(*c);
    } else {
      KJ_FAIL_REQUIRE(kj::str("The app did not open port ", connector.port(), " in time."));
    }
    r->connection->reusable = false;
    auto& rr = *r;
    auto handshake =
        rr.connection->socket().writeAll(rr.head->asBytes()).then([&rr]() {
          return readResponseHead(*rr.connection, rr.response, rr.reason, true);
        });
    auto timed = connector.timer().timeoutAfter(limits::RESPONSE_HEAD_TIMEOUT,
                                                kj::mv(handshake));
    return timed.then([&connector, &background, r = kj::mv(r)](
                          HeadOutcome outcome) mutable -> kj::Array<kj::String> {
      auto& head = r->response;
      KJ_REQUIRE(outcome != HeadOutcome::EOF_BEFORE_ANY_BYTE,
                 "app closed the connection instead of accepting the WebSocket");
      KJ_REQUIRE(outcome == HeadOutcome::COMPLETE, "app sent an invalid WebSocket handshake",
                 r->reason);
      KJ_REQUIRE(head.status == 101, "Sandboxed app does not support WebSocket (it answered "
                 "the upgrade with another status)", head.status);
      KJ_REQUIRE(hasToken(head, "upgrade", "websocket") &&
                 hasToken(head, "connection", "upgrade"),
                 "app's 101 response lacks Upgrade: websocket / Connection: Upgrade");
      auto expected = http::webSocketAccept(r->key);
      bool accepted = false;
      KJ_IF_MAYBE(accept, head.find("sec-websocket-accept")) { accepted = *accept == expected; }
      KJ_REQUIRE(accepted, "app's Sec-WebSocket-Accept does not match the key we sent");
      auto protocols = chosenProtocols(head);
      auto& relayed = *r;
      background.add(relay(relayed, connector.timer()).attach(kj::mv(r)));
      return protocols;
    });
  });
}

}  // namespace ss::bridge
