// Connections from the bridge to the app's HTTP server on 127.0.0.1:<port>.
//
// The app starts at the same time as the bridge, so the port is not open at first: AppConnector
// retries connect() every limits::PORT_RETRY_INTERVAL until it succeeds, and calls that arrive
// meanwhile wait for that (each at most `portWait`). Afterwards, connections are kept alive and
// reused (at most limits::MAX_IDLE_CONNECTIONS idle); a call that finds none idle opens a new
// one, up to limits::MAX_ACTIVE_CONNECTIONS at once, beyond which calls queue for a slot.
//
// Sandstorm's bridge opened a new connection per request with `Connection: close`; reuse saves
// a handshake and a TIME_WAIT socket per request, which matters for apps that load hundreds of
// small assets.
#pragma once

#include <stdint.h>

#include <deque>

#include <kj/async-unix.h>
#include <kj/list.h>
#include <kj/timer.h>
#include <kj/vector.h>

#include "rpc/bridge/async-fd.h"

namespace ss::bridge {

class AppConnector;

class ConnectionSlot {
  // One of limits::MAX_ACTIVE_CONNECTIONS; given back (to a waiting call, or to the pool) when
  // destroyed, so a call cancelled at any point cannot leak it.
public:
  explicit ConnectionSlot(AppConnector& connector): connector(connector) {}
  ~ConnectionSlot() noexcept(false);
  KJ_DISALLOW_COPY(ConnectionSlot);

private:
  AppConnector& connector;
};

class Connection {
  // One TCP connection to the app plus the bytes read from it but not yet consumed.
public:
  Connection(kj::UnixEventPort& port, kj::AutoCloseFd fd);
  KJ_DISALLOW_COPY(Connection);

  AsyncFd& socket() { return fd; }

  kj::ArrayPtr<kj::byte> buffered() { return buffer.slice(begin, end); }
  void consume(size_t n) { begin += n; }

  kj::Promise<size_t> fill();
  // Reads more bytes after the buffered ones (compacting first); 0 = EOF. Throws if the buffer
  // is full (the caller bounds what it waits for, e.g. a response head).

  bool stillIdle();
  // For a pooled connection about to be reused: one non-blocking read() must find nothing (the
  // app has neither closed it nor sent unsolicited bytes). That EAGAIN also stands for the read
  // the response head would start with: the next fill() waits for readability straight away.
  // (This replaced a recv(MSG_PEEK) check followed by a read() that said EAGAIN again: one
  // syscall less per request.)

  bool reused = false;     // came from the idle pool (a failure before any byte may be a race)
  bool reusable = true;    // cleared on any framing doubt; such a connection is closed

private:
  friend class AppConnector;
  AsyncFd fd;
  kj::Array<kj::byte> buffer;
  size_t begin = 0;
  size_t end = 0;
  kj::Maybe<kj::Promise<void>> readable;     // set by stillIdle(): the next readiness edge
  kj::Maybe<kj::Own<ConnectionSlot>> slot;  // null while idle in the pool
};

class AppConnector {
public:
  AppConnector(kj::UnixEventPort& port, kj::Timer& timer, uint16_t appPort,
               kj::Duration portWait);
  ~AppConnector() noexcept(false);
  KJ_DISALLOW_COPY(AppConnector);

  uint16_t port() const { return appPort; }
  kj::UnixEventPort& eventPort() { return unixPort; }
  kj::Timer& timer() { return clock; }

  kj::Promise<kj::Maybe<kj::Own<Connection>>> acquire(bool fresh);
  // A connection ready for one request: an idle one unless `fresh` (WebSockets want their own),
  // else a new one. Null if the app has not opened its port within `portWait` of this call.

  void release(kj::Own<Connection> connection);
  // After a complete exchange: back to the idle pool if it is still reusable and nothing extra
  // was buffered; otherwise closed.

  bool portIsOpen() const { return portOpen; }

private:
  friend class ConnectionSlot;
  kj::UnixEventPort& unixPort;
  kj::Timer& clock;
  uint16_t appPort;
  kj::Duration portWait;
  bool portOpen = false;
  kj::ForkedPromise<void> portReady;
  kj::Vector<kj::Own<Connection>> idle;
  size_t active = 0;  // slots handed out
  std::deque<kj::Own<kj::PromiseFulfiller<kj::Own<ConnectionSlot>>>> slotWaiters;

  kj::Promise<void> waitForPort(kj::TimePoint start, bool warned);
  kj::Promise<kj::Maybe<kj::Own<Connection>>> tryConnect();
  kj::Promise<kj::Own<ConnectionSlot>> acquireSlot();
  void slotFreed();
  kj::Maybe<kj::Own<Connection>> takeIdle();
};

}  // namespace ss::bridge
