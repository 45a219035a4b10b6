#include "reactor/splice.h"

#include <fcntl.h>
#include <poll.h>

#include <algorithm>

#include "base/syscall.h"

namespace ss::reactor {

namespace {

constexpr size_t SPLICE_CHUNK = 1 << 20;  // per splice() call; the pipe size bounds it anyway

kj::Promise<uint64_t> pumpFrom(Reactor& reactor, int from, int to, uint64_t limit,
                               uint64_t done, uint64_t* moved) {
  // Bounded per call: when a full chunk keeps succeeding we yield back to the loop every
  // 16 MiB so one fast stream cannot starve every other connection.
  for (int rounds = 0; done < limit && rounds < 16; rounds++) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(limit - done, SPLICE_CHUNK));
    ssize_t n = splice(from, nullptr, to, nullptr, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0) {
      done += n;
      reactor.countSpliced(n);
      if (moved != nullptr) *moved = done;
      continue;
    }
    if (n == 0) return done;  // EOF on `from`
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      int error = errno;
      return KJ_EXCEPTION(DISCONNECTED, "splice failed", errnoName(error), done);
    }
    // Which side is not ready? One poll(2) with a zero timeout tells; then wait on the ring.
    pollfd fds[2] = {{from, POLLIN, 0}, {to, POLLOUT, 0}};
    int ready;
    KJ_SYSCALL(ready = ::poll(fds, 2, 0));
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
      return reactor.whenReadable(from).then([&reactor, from, to, limit, done, moved]() {
        return pumpFrom(reactor, from, to, limit, done, moved);
      });
    }
    if ((fds[1].revents & (POLLOUT | POLLHUP | POLLERR)) == 0) {
      return reactor.whenWritable(to).then([&reactor, from, to, limit, done, moved]() {
        return pumpFrom(reactor, from, to, limit, done, moved);
      });
    }
    // Both report ready but splice said EAGAIN (e.g. a pipe with less room than a page):
    // wait for the writer side to drain a little.
    return reactor.whenWritable(to).then([&reactor, from, to, limit, done, moved]() {
      return pumpFrom(reactor, from, to, limit, done, moved);
    });
  }
  if (done >= limit) return done;
  return kj::evalLater([&reactor, from, to, limit, done, moved]() {
    return pumpFrom(reactor, from, to, limit, done, moved);
  });
}

}  // namespace

kj::Promise<uint64_t> splicePump(Reactor& reactor, int from, int to, uint64_t limit,
                                 uint64_t* moved) {
  return pumpFrom(reactor, from, to, limit, 0, moved);
}

}  // namespace ss::reactor
