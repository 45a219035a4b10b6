#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <unordered_map>

#include <kj/debug.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/syscall.h"
#include "http/connection.h"

namespace ss::http {

// Accepts on one listening socket with a single multishot accept.
class Listener final: private reactor::Deadline::Handler {
public:
  Listener(ServerContext& context, AutoCloseFd fd, reactor::DeadlineQueue& retryQueue)
      : context(context), fd(kj::mv(fd)), retryQueue(retryQueue) {
    arm();
  }
  ~Listener() noexcept(false) {
    if (acceptOp.inFlight()) {
      // Only reached when the reactor is being torn down with us: ops die with the ring.
      KJ_LOG(WARNING, "listener destroyed with accept in flight");
    }
  }

  void stop() {
    stopped = true;
    retry.disarm();
    if (acceptOp.inFlight()) {
      context.reactor.cancel(acceptOp);  // the socket closes when the accept's last CQE arrives
    } else {
      fd = nullptr;
    }
  }
  bool idle() const {
    // The accept's last CQE closes fd before it notifies: idle from then on, although the op
    // still counts as in flight until its callback returns.
    return !acceptOp.inFlight() || (stopped && fd.get() < 0);
  }

  void maybeResume() {
    // Called when a connection closes: if we paused for the connection cap, accept again.
    if (pausedForCap && !stopped &&
        context.stats.openConnections < context.options.maxConnections) {
      pausedForCap = false;
      arm();
    }
  }

private:
  void arm() {
    if (!acceptOp.inFlight() && !stopped) context.reactor.prepareAccept(acceptOp, fd);
  }

  void onAccept(int32_t res, uint32_t flags) {
    bool more = (flags & IORING_CQE_F_MORE) != 0;
    if (stopped) {
      if (res >= 0) ::close(res);
      if (!more) {
        fd = nullptr;  // stop listening: new connections are refused from now on
        context.onConnectionClosed();  // lets a pending drain() finish
      }
      return;
    }
    if (res >= 0) {
      admit(res);
    } else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
      // Out of descriptors or memory: pause (no busy loop of failing accepts) and retry later.
      SS_LOG(WARNING, "http", "accept failing; pausing", errnoName(res));
      if (more) context.reactor.cancel(acceptOp);
      retry.disarm();
      retryQueue.arm(retry, context.reactor.now());
      return;
    } else if (res != -ECANCELED && res != -ECONNABORTED && res != -EINTR) {
      SS_LOG(ERROR, "http", "accept failed", errnoName(res));
    }
    if (!more && !retry.armed() && !pausedForCap) arm();
  }

  void onDeadline() override { arm(); }

  // Which per-address bucket a client falls in: its IPv4 address, or its IPv6 /64 (one host
  // usually holds a whole /64). 0 = not limited (loopback, when exempt).
  uint64_t addressKey(int client) {
    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
    if (getpeername(client, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return 0;
    if (peer.ss_family == AF_INET) {
      uint32_t ip = ntohl(reinterpret_cast<sockaddr_in*>(&peer)->sin_addr.s_addr);
      if (context.options.loopbackExempt && (ip >> 24) == 127) return 0;
      return (uint64_t(1) << 62) | ip;
    }
    if (peer.ss_family == AF_INET6) {
      auto& addr = reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr;
      if (IN6_IS_ADDR_V4MAPPED(&addr)) {
        uint32_t ip = (uint32_t(addr.s6_addr[12]) << 24) | (uint32_t(addr.s6_addr[13]) << 16) |
                      (uint32_t(addr.s6_addr[14]) << 8) | addr.s6_addr[15];
        if (context.options.loopbackExempt && (ip >> 24) == 127) return 0;
        return (uint64_t(1) << 62) | ip;
      }
      if (context.options.loopbackExempt && IN6_IS_ADDR_LOOPBACK(&addr)) return 0;
      uint64_t prefix = 0;
      for (int i = 0; i < 8; i++) prefix = (prefix << 8) | addr.s6_addr[i];
      return prefix | (uint64_t(1) << 63);
    }
    return 0;
  }

  void admit(int client) {
    if (stopped) {
      ::close(client);
      return;
    }
    context.stats.connectionsAccepted++;
    if (context.stats.openConnections >= context.options.maxConnections) {
      context.stats.connectionsRefused++;
      ::close(client);
      if (!pausedForCap) {
        pausedForCap = true;
        if (acceptOp.inFlight()) context.reactor.cancel(acceptOp);
        SS_LOG(WARNING, "http", "connection limit reached; not accepting",
               context.options.maxConnections);
      }
      return;
    }
    uint64_t key = addressKey(client);
    if (key != 0) {
      uint32_t& count = context.perAddress[key];
      if (count >= context.options.maxConnectionsPerAddress) {
        context.stats.connectionsRefused++;
        ::close(client);
        return;
      }
      count++;
    }
    // Responses go out as a head and then spliced body chunks: with Nagle, a body's small last
    // segment waits for the client's (delayed) ACK of the previous one, 40 ms on loopback.
    // Every write we make is already a whole head or a full chunk, so Nagle only delays.
    int one = 1;
    (void)::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // not TCP: no-op
    new Connection(context, client, key);  // owns itself; deletes itself when closed
  }

  ServerContext& context;
  AutoCloseFd fd;
  reactor::DeadlineQueue& retryQueue;
  reactor::OpTo<Listener, &Listener::onAccept> acceptOp{*this};
  reactor::Deadline retry{*this};
  bool stopped = false;
  bool pausedForCap = false;
};

struct Server::Impl {
  Impl(reactor::Reactor& reactor, Handler& handler, const ServerOptions& options)
      : context(reactor, handler, options), retryQueue(limits::ACCEPT_RETRY_MS) {
    reactor.addDeadlineQueue(retryQueue);
    context.onConnectionClosed = [this]() { onConnectionClosed(); };
  }
  ~Impl() noexcept(false) { context.reactor.removeDeadlineQueue(retryQueue); }

  void onConnectionClosed() {
    for (auto& listener: listeners) listener->maybeResume();
    checkDrained();
  }

  void checkDrained() {
    if (!context.draining || context.connections != nullptr) return;
    for (auto& listener: listeners) {
      if (!listener->idle()) return;
    }
    KJ_IF_MAYBE(fulfiller, context.drained) {
      (*fulfiller)->fulfill();
      context.drained = nullptr;
    }
  }

  void forceCloseAll() {
    Connection* conn = context.connections;
    while (conn != nullptr) {
      Connection* next = conn->next;  // conn may delete itself
      conn->forceClose();
      conn = next;
    }
  }

  ServerContext context;
  reactor::DeadlineQueue retryQueue;
  kj::Vector<kj::Own<Listener>> listeners;
};

Server::Server(reactor::Reactor& reactor, Handler& handler, ServerOptions options)
    : impl(kj::heap<Impl>(reactor, handler, options)) {}

Server::~Server() noexcept(false) {
  // Connections must be gone (drain() first); anything left is torn down with the ring.
  if (impl->context.connections != nullptr) {
    KJ_LOG(WARNING, "HTTP server destroyed with open connections; call drain() first");
  }
}

void Server::listen(AutoCloseFd listener) {
  impl->listeners.add(kj::heap<Listener>(impl->context, kj::mv(listener), impl->retryQueue));
}

kj::Promise<void> Server::drain(uint64_t graceMs) {
  auto& context = impl->context;
  context.draining = true;
  for (auto& listener: impl->listeners) listener->stop();
  Connection* conn = context.connections;
  while (conn != nullptr) {
    Connection* next = conn->next;
    conn->startDrain();
    conn = next;
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  context.drained = kj::mv(paf.fulfiller);
  auto forced = context.reactor.timer().afterDelay(graceMs * kj::MILLISECONDS).then([this]() {
    if (impl->context.stats.openConnections > 0) {
      SS_LOG(WARNING, "http", "shutdown grace period over; closing remaining connections",
             impl->context.stats.openConnections);
    }
    impl->forceCloseAll();
    impl->checkDrained();
  }).eagerlyEvaluate(nullptr);
  // Check on the next turn too: with nothing open, nothing else would trigger the check.
  auto check = kj::evalLater([this]() { impl->checkDrained(); }).eagerlyEvaluate(nullptr);
  return paf.promise.attach(kj::mv(forced), kj::mv(check));
}

const ServerStats& Server::stats() const { return impl->context.stats; }

}  // namespace ss::http
