#include "rpc/bridge/http-client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kj/debug.h>

#include "rpc/bridge/limits.h"

namespace ss::bridge {

ConnectionSlot::~ConnectionSlot() noexcept(false) { connector.slotFreed(); }

Connection::Connection(kj::UnixEventPort& port, kj::AutoCloseFd fdParam)
    : fd(port, kj::mv(fdParam)), buffer(kj::heapArray<kj::byte>(limits::READ_BUFFER_BYTES)) {}

kj::Promise<size_t> Connection::fill() {
  if (begin > 0) {
    memmove(buffer.begin(), buffer.begin() + begin, end - begin);
    end -= begin;
    begin = 0;
  }
  KJ_REQUIRE(end < buffer.size(), "connection read buffer full");
  KJ_IF_MAYBE(ready, readable) {
    // stillIdle() just read EAGAIN and asked for the next edge in the same turn.
    auto wait = kj::mv(*ready);
    readable = nullptr;
    return wait.then([this]() { return fill(); });
  }
  return fd.read(buffer.slice(end, buffer.size())).then([this](size_t n) {
    end += n;
    return n;
  });
}

bool Connection::stillIdle() {
  KJ_ASSERT(begin == end, "a pooled connection holds unread bytes");
  ssize_t n;
  do {
    n = ::read(fd.get(), buffer.begin(), buffer.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    // Registered now, before the loop polls again, so no edge after this read can be missed.
    readable = fd.observer().whenBecomesReadable();
    return true;
  }
  return false;  // EOF, reset, or bytes nobody asked for: not safe to reuse
}

AppConnector::AppConnector(kj::UnixEventPort& port, kj::Timer& timer, uint16_t appPort,
                           kj::Duration portWait)
    : unixPort(port), clock(timer), appPort(appPort), portWait(portWait),
      portReady(waitForPort(timer.now(), false).fork()) {}

AppConnector::~AppConnector() noexcept(false) {
  // Idle connections hold no slot; drop them before anything else goes.
  idle.clear();
}

kj::Promise<kj::Maybe<kj::Own<Connection>>> AppConnector::tryConnect() {
  int fd;
  KJ_SYSCALL(fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  kj::AutoCloseFd owned(fd);
  // Request heads are written separately from bodies; without NODELAY, Nagle would hold the
  // second write until the app ACKs the first (40 ms per small POST on loopback).
  int one = 1;
  KJ_SYSCALL(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));

  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(appPort);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = ::connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr));
  int error = r == 0 ? 0 : errno;
  if (error == ECONNREFUSED) return kj::Maybe<kj::Own<Connection>>(nullptr);
  if (error != 0 && error != EINPROGRESS && error != EINTR) {
    KJ_FAIL_SYSCALL("connect", error, appPort);
  }
  auto connection = kj::heap<Connection>(unixPort, kj::mv(owned));
  if (error == 0) return kj::Maybe<kj::Own<Connection>>(kj::mv(connection));
  // In progress: writable means the handshake finished; SO_ERROR says how.
  auto& socket = connection->socket();
  return socket.whenWritable().then(
      [connection = kj::mv(connection)]() mutable -> kj::Maybe<kj::Own<Connection>> {
        int soError = 0;
        socklen_t len = sizeof(soError);
        KJ_SYSCALL(getsockopt(connection->socket().get(), SOL_SOCKET, SO_ERROR, &soError, &len));
        if (soError == ECONNREFUSED) return nullptr;
        if (soError != 0) KJ_FAIL_SYSCALL("connect", soError);
        return kj::mv(connection);
      });
}

kj::Promise<void> AppConnector::waitForPort(kj::TimePoint start, bool warned) {
  return tryConnect().then(
      [this, start, warned](kj::Maybe<kj::Own<Connection>> connection) -> kj::Promise<void> {
        KJ_IF_MAYBE(c, connection) {
          portOpen = true;
          idle.add(kj::mv(*c));  // the probe connection is a perfectly good one
          return kj::READY_NOW;
        }
        bool warnedNow = warned;
        if (!warned && clock.now() - start >= limits::PORT_WAIT_WARNING) {
          KJ_LOG(WARNING, "app has not opened its HTTP port yet; is it listening on 127.0.0.1?",
                 appPort);
          warnedNow = true;
        }
        auto delay = clock.now() - start < limits::PORT_RETRY_FAST_PERIOD
                         ? limits::PORT_RETRY_FAST
                         : limits::PORT_RETRY_INTERVAL;
        return clock.afterDelay(delay).then([this, start, warnedNow]() {
          return waitForPort(start, warnedNow);
        });
      });
}

kj::Promise<kj::Own<ConnectionSlot>> AppConnector::acquireSlot() {
  if (active < limits::MAX_ACTIVE_CONNECTIONS) {
    ++active;
    return kj::heap<ConnectionSlot>(*this);
  }
  auto paf = kj::newPromiseAndFulfiller<kj::Own<ConnectionSlot>>();
  slotWaiters.push_back(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

void AppConnector::slotFreed() {
  // Hand the slot straight to the oldest waiter still waiting (a cancelled call's fulfiller is
  // skipped); `active` stays the same.
  while (!slotWaiters.empty()) {
    auto waiter = kj::mv(slotWaiters.front());
    slotWaiters.pop_front();
    if (waiter->isWaiting()) {
      waiter->fulfill(kj::heap<ConnectionSlot>(*this));
      return;
    }
  }
  --active;
}

kj::Maybe<kj::Own<Connection>> AppConnector::takeIdle() {
  while (idle.size() > 0) {
    auto c = kj::mv(idle.back());
    idle.removeLast();
    // An idle connection the app has closed (or that has unsolicited bytes) would fail or
    // confuse the next request: only "nothing to read" is healthy.
    if (c->stillIdle()) {
      c->reused = true;
      return kj::mv(c);
    }
  }
  return nullptr;
}

kj::Promise<kj::Maybe<kj::Own<Connection>>> AppConnector::acquire(bool fresh) {
  kj::Promise<bool> ready = true;
  if (!portOpen) {
    ready = portReady.addBranch()
                .then([]() { return true; })
                .exclusiveJoin(clock.afterDelay(portWait).then([]() { return false; }));
  }
  return ready.then([this, fresh](bool open) -> kj::Promise<kj::Maybe<kj::Own<Connection>>> {
    if (!open) return kj::Maybe<kj::Own<Connection>>(nullptr);
    return acquireSlot().then([this, fresh](kj::Own<ConnectionSlot> slot)
                                  -> kj::Promise<kj::Maybe<kj::Own<Connection>>> {
      if (!fresh) {
        KJ_IF_MAYBE(c, takeIdle()) {
          (*c)->slot = kj::mv(slot);
          return kj::Maybe<kj::Own<Connection>>(kj::mv(*c));
        }
      }
      return tryConnect().then([slot = kj::mv(slot), this](
                                   kj::Maybe<kj::Own<Connection>> c) mutable
                               -> kj::Maybe<kj::Own<Connection>> {
        KJ_IF_MAYBE(connection, c) {
          (*connection)->slot = kj::mv(slot);
          return kj::mv(*connection);
        }
        // DISCONNECTED, not FAILED: the port answered before, so the app has almost surely
        // exited (the bridge follows it in a moment). The platform then restarts the grain and
        // retries a safe request instead of showing an error for a grain that will work again.
        kj::throwFatalException(KJ_EXCEPTION(DISCONNECTED,
            "app closed its HTTP port (connection refused); it has probably exited", appPort));
      });
    });
  });
}

void AppConnector::release(kj::Own<Connection> connection) {
  connection->slot = nullptr;
  connection->readable = nullptr;  // if never used: the next reuse checks again
  if (connection->reusable && connection->buffered().size() == 0 &&
      idle.size() < limits::MAX_IDLE_CONNECTIONS) {
    connection->reused = false;
    idle.add(kj::mv(connection));
  }
}

}  // namespace ss::bridge
