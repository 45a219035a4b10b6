#include "rpc/bridge/async-fd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kj/debug.h>

#include "rpc/bridge/limits.h"

namespace ss::bridge {

namespace {

// Zero-timeout poll(): which of `events` hold right now. POLLHUP/POLLERR count as ready, so a
// waiter wakes up and lets the next syscall report EOF or the error.
short pollNow(int fd, short events) {
  struct pollfd p = {fd, events, 0};
  int n;
  KJ_SYSCALL(n = ::poll(&p, 1, 0));
  return n == 0 ? 0 : p.revents;
}

}  // namespace

AsyncFd::AsyncFd(kj::UnixEventPort& port, kj::AutoCloseFd fdParam)
    : fd(kj::mv(fdParam)),
      obs(port, fd.get(), kj::UnixEventPort::FdObserver::OBSERVE_READ_WRITE) {}

kj::Promise<void> AsyncFd::whenReadable() {
  // The observer is edge-triggered: if data is already there and no new edge comes, waiting
  // would hang. poll() first; if it says "not ready", the next arrival is an edge epoll reports
  // (it is queued until this turn of the loop ends, so it cannot be missed).
  if (pollNow(fd, POLLIN | POLLRDHUP) != 0) return kj::READY_NOW;
  return obs.whenBecomesReadable();
}

kj::Promise<void> AsyncFd::whenWritable() {
  if (pollNow(fd, POLLOUT) != 0) return kj::READY_NOW;
  return obs.whenBecomesWritable();
}

kj::Promise<size_t> AsyncFd::read(kj::ArrayPtr<kj::byte> buffer) {
  ssize_t n;
  do {
    n = ::read(fd, buffer.begin(), buffer.size());
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return size_t(n);
  int error = errno;
  if (error == ECONNRESET) return size_t(0);
  if (error != EAGAIN) KJ_FAIL_SYSCALL("read", error, fd.get());
  return obs.whenBecomesReadable().then([this, buffer]() { return read(buffer); });
}

kj::Promise<void> AsyncFd::writeAll(kj::ArrayPtr<const kj::byte> data,
                                    kj::Maybe<kj::Timer&> stallTimer) {
  while (data.size() > 0) {
    // MSG_NOSIGNAL where we can; pipes fall back to write() (SIGPIPE is ignored process-wide).
    ssize_t n = notSocket ? -1 : ::send(fd, data.begin(), data.size(), MSG_NOSIGNAL);
    if (notSocket || (n < 0 && errno == ENOTSOCK)) {
      notSocket = true;
      n = ::write(fd, data.begin(), data.size());
    }
    if (n < 0) {
      int error = errno;
      if (error == EINTR) continue;
      if (error != EAGAIN) KJ_FAIL_SYSCALL("write", error, fd.get());
      kj::Promise<void> room = obs.whenBecomesWritable();
      KJ_IF_MAYBE(timer, stallTimer) {
        room = timer->timeoutAfter(limits::PIPE_STALL_TIMEOUT, kj::mv(room));
      }
      return room.then([this, data, stallTimer]() mutable { return writeAll(data, stallTimer); });
    }
    data = data.slice(n, data.size());
  }
  return kj::READY_NOW;
}

void AsyncFd::shutdownWrite() {
  // ENOTCONN: the peer already closed; ENOTSOCK: a pipe. Neither matters here.
  ::shutdown(fd, SHUT_WR);
}

kj::Promise<uint64_t> spliceFd(AsyncFd& from, AsyncFd& to, SpliceOptions options) {
  uint64_t moved = 0;
  while (moved < options.limit) {
    if (moved >= limits::SPLICE_BURST) {
      // Let other calls run between bursts: a 200 MiB body must not monopolise the loop.
      options.limit -= moved;
      return kj::evalLater([&from, &to, options, moved]() mutable {
        return spliceFd(from, to, options).then([moved](uint64_t more) { return moved + more; });
      });
    }
    size_t want = kj::min(options.limit - moved, uint64_t(limits::SPLICE_CHUNK));
    ssize_t n = ::splice(from.get(), nullptr, to.get(), nullptr, want,
                         SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0) {
      moved += n;
      continue;
    }
    if (n == 0) return moved;  // EOF on `from`
    int error = errno;
    if (error == EINTR) continue;
    if (error != EAGAIN) {
      KJ_FAIL_SYSCALL("splice", error, from.get(), to.get());
    }
    // EAGAIN does not say which side is not ready: ask poll(), and wait for that side only.
    // Both ready means the state changed in between; loop again.
    options.limit -= moved;
    kj::Promise<void> ready = nullptr;
    if (pollNow(from.get(), POLLIN | POLLRDHUP) == 0) {
      ready = from.observer().whenBecomesReadable();
    } else if (pollNow(to.get(), POLLOUT) == 0) {
      ready = to.observer().whenBecomesWritable();
      KJ_IF_MAYBE(timer, options.stallTimer) {
        ready = timer->timeoutAfter(limits::PIPE_STALL_TIMEOUT, kj::mv(ready));
      }
    } else {
      ready = kj::evalLater([]() {});
    }
    return ready.then([&from, &to, options, moved]() mutable {
      return spliceFd(from, to, options).then([moved](uint64_t more) { return moved + more; });
    });
  }
  return moved;
}

kj::AutoCloseFd dupReceivedFd(int fd) {
  int copy;
  KJ_SYSCALL(copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  kj::AutoCloseFd owned(copy);
  // O_NONBLOCK is a property of the open file description, which the platform's copy shares;
  // the platform uses the *other* end of each pipe, and drives its own fds non-blocking anyway.
  int flags;
  KJ_SYSCALL(flags = ::fcntl(copy, F_GETFL));
  KJ_SYSCALL(::fcntl(copy, F_SETFL, flags | O_NONBLOCK));
  return owned;
}

}  // namespace ss::bridge
