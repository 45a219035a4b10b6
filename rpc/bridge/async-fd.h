// Non-blocking file descriptors driven by KJ's epoll loop (UnixEventPort), for the bridge's
// sockets and pipes.
//
// The bridge moves bodies with splice(2), which needs the raw fd, so it cannot hide sockets and
// pipes behind kj::AsyncIoStream. AsyncFd keeps the fd and its FdObserver together and offers
// the few operations the bridge needs, each honouring the observer's edge-triggered contract:
// wait for readiness only right after the kernel said EAGAIN (see kj/async-unix.h).
//
// Never io_uring: the sandbox's seccomp filter denies it (DESIGN.md §2).
#pragma once

#include <stdint.h>

#include <kj/async-unix.h>
#include <kj/async.h>
#include <kj/io.h>
#include <kj/timer.h>

namespace ss::bridge {

class AsyncFd {
public:
  AsyncFd(kj::UnixEventPort& port, kj::AutoCloseFd fd);
  // `fd` must already be non-blocking for read()/write(); splice() uses SPLICE_F_NONBLOCK for
  // pipes, so a pipe end received from the platform works either way.
  KJ_DISALLOW_COPY(AsyncFd);

  int get() const { return fd.get(); }
  kj::UnixEventPort::FdObserver& observer() { return obs; }

  kj::Promise<size_t> read(kj::ArrayPtr<kj::byte> buffer);
  // Waits until at least one byte is available and returns how many were read; 0 = EOF (a
  // connection reset counts as EOF: for the bridge both mean "the app went away").

  kj::Promise<void> writeAll(kj::ArrayPtr<const kj::byte> data,
                             kj::Maybe<kj::Timer&> stallTimer = nullptr);
  // `data` must stay valid until the promise resolves. With a timer, waiting for room fails
  // after limits::PIPE_STALL_TIMEOUT.

  kj::Promise<void> whenReadable();
  kj::Promise<void> whenWritable();
  // Resolve immediately if poll() says ready now, else on the next readiness edge. Safe to call
  // at any time (unlike the raw observer), at the cost of one poll() syscall.

  void shutdownWrite();
  // shutdown(SHUT_WR) for sockets; ignored for other fds.

private:
  kj::AutoCloseFd fd;
  kj::UnixEventPort::FdObserver obs;  // declared after fd: removed from epoll before the close
  bool notSocket = false;             // learnt from the first ENOTSOCK: use write() from then on
};

struct SpliceOptions {
  uint64_t limit = UINT64_MAX;   // bytes to move at most
  kj::Maybe<kj::Timer&> stallTimer;
  // When set, waiting for `to` to become writable fails after limits::PIPE_STALL_TIMEOUT.
};

kj::Promise<uint64_t> spliceFd(AsyncFd& from, AsyncFd& to, SpliceOptions options);
// Moves bytes with splice(2) (one side must be a pipe) until `limit` bytes moved or `from` hits
// EOF; returns the bytes moved. Bytes move as soon as they are available: nothing is held back
// waiting for more, so server-sent events and long polls reach the platform immediately.

kj::AutoCloseFd dupReceivedFd(int fd);
// dup()s a descriptor received over RPC (the capability owns the original and closes it when
// the call's parameters are released), close-on-exec and non-blocking.

}  // namespace ss::bridge
