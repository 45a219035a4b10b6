#include "rpc/bridge/body-pump.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <string_view>

#include <kj/debug.h>
#include <kj/vector.h>

#include "http/chunked.h"
#include "rpc/bridge/limits.h"

namespace ss::bridge {

namespace {

kj::Promise<bool> sendExactly(AsyncFd& pipe, Connection& connection, uint64_t length) {
  return spliceFd(pipe, connection.socket(), {length, nullptr})
      .then([length](uint64_t moved) { return moved == length; });
}

// One chunk per round: as many bytes as the pipe holds now (FIONREAD), so the chunk-size line
// can be written before the bytes are spliced. Only the bridge reads this pipe, so those bytes
// stay there until spliced.
kj::Promise<bool> sendChunks(AsyncFd& pipe, Connection& connection) {
  int available = 0;
  KJ_SYSCALL(ioctl(pipe.get(), FIONREAD, &available));
  if (available == 0) {
    // Empty: either more is coming or the writer closed (POLLHUP with nothing left = EOF).
    struct pollfd p = {pipe.get(), POLLIN, 0};
    KJ_SYSCALL(::poll(&p, 1, 0));
    if ((p.revents & POLLHUP) && !(p.revents & POLLIN)) {
      static const char LAST[] = "0\r\n\r\n";
      return connection.socket().writeAll(kj::arrayPtr(LAST, 5).asBytes()).then([]() {
        return true;
      });
    }
    if (p.revents == 0) {
      return pipe.observer().whenBecomesReadable().then(
          [&pipe, &connection]() { return sendChunks(pipe, connection); });
    }
    return kj::evalLater([&pipe, &connection]() { return sendChunks(pipe, connection); });
  }
  size_t size = kj::min(size_t(available), limits::SPLICE_CHUNK);
  auto line = kj::heap(kj::str(kj::hex(size), "\r\n"));
  auto bytes = line->asBytes();
  return connection.socket().writeAll(bytes).attach(kj::mv(line))
      .then([&pipe, &connection, size]() { return sendExactly(pipe, connection, size); })
      .then([&connection](bool complete) {
        // FIONREAD promised these bytes; only a bug elsewhere could take them.
        KJ_ASSERT(complete, "request body pipe lost bytes it had reported");
        static const char CRLF[] = "\r\n";
        return connection.socket().writeAll(kj::arrayPtr(CRLF, 2).asBytes());
      })
      .then([&pipe, &connection]() { return sendChunks(pipe, connection); });
}

kj::Promise<void> writeBuffered(Connection& connection, AsyncFd& pipe, size_t n,
                                kj::Timer& timer) {
  if (n == 0) return kj::READY_NOW;
  auto bytes = connection.buffered().slice(0, n);
  return pipe.writeAll(bytes, timer).then([&connection, n]() { connection.consume(n); });
}

kj::Promise<void> pumpLength(Connection& connection, AsyncFd& pipe, uint64_t length,
                             kj::Timer& timer) {
  size_t first = kj::min(uint64_t(connection.buffered().size()), length);
  uint64_t rest = length - first;
  return writeBuffered(connection, pipe, first, timer).then([&connection, &pipe, rest, &timer]() {
    if (connection.buffered().size() > 0) connection.reusable = false;  // bytes after the body
    return spliceFd(connection.socket(), pipe, {rest, timer}).then([rest](uint64_t moved) {
      KJ_REQUIRE(moved == rest, "app closed the connection before the end of the body", moved,
                 rest);
    });
  });
}

kj::Promise<void> pumpUntilClose(Connection& connection, AsyncFd& pipe, kj::Timer& timer) {
  connection.reusable = false;
  return writeBuffered(connection, pipe, connection.buffered().size(), timer)
      .then([&connection, &pipe, &timer]() {
        return spliceFd(connection.socket(), pipe, {UINT64_MAX, timer}).ignoreResult();
      });
}

struct ChunkedState {
  http::ChunkedDecoder decoder;
  kj::Vector<kj::byte> decoded;
};

// Decode what is buffered, write the data out, read more; repeat until the last chunk. The copy
// through `decoded` is bounded by the connection's read buffer.
kj::Promise<void> pumpChunked(Connection& connection, AsyncFd& pipe, kj::Timer& timer,
                              kj::Own<ChunkedState> state) {
  auto input = connection.buffered();
  auto& decoded = state->decoded;
  decoded.clear();
  auto step = state->decoder.feed(
      std::string_view(reinterpret_cast<const char*>(input.begin()), input.size()),
      [&decoded](std::string_view data) {
        decoded.addAll(reinterpret_cast<const kj::byte*>(data.data()),
                       reinterpret_cast<const kj::byte*>(data.data()) + data.size());
      });
  KJ_REQUIRE(step.state != http::ChunkedDecoder::State::ERROR,
             "app sent a malformed chunked body", step.reason);
  connection.consume(step.consumed);
  bool done = step.state == http::ChunkedDecoder::State::DONE;
  if (done && connection.buffered().size() > 0) connection.reusable = false;
  kj::Promise<void> written = decoded.size() == 0 ? kj::Promise<void>(kj::READY_NOW)
                                                 : pipe.writeAll(decoded.asPtr(), timer);
  return written.then([&connection, &pipe, &timer, done,
                       state = kj::mv(state)]() mutable -> kj::Promise<void> {
    if (done) return kj::READY_NOW;
    return connection.fill().then([&connection, &pipe, &timer,
                                   state = kj::mv(state)](size_t n) mutable {
      KJ_REQUIRE(n > 0, "app closed the connection in the middle of a chunked body");
      return pumpChunked(connection, pipe, timer, kj::mv(state));
    });
  });
}

}  // namespace

kj::Promise<bool> sendPipedBody(AsyncFd& pipe, Connection& connection, int64_t length) {
  if (length >= 0) return sendExactly(pipe, connection, uint64_t(length));
  return sendChunks(pipe, connection);
}

BodyPipe makeBodyPipe(kj::UnixEventPort& port) {
  int fds[2];
  KJ_SYSCALL(pipe2(fds, O_CLOEXEC | O_NONBLOCK));
  kj::AutoCloseFd readEnd(fds[0]);
  kj::AutoCloseFd writeEnd(fds[1]);
  // Best effort: EPERM past /proc/sys/fs/pipe-max-size (or a user's pipe quota) just leaves the
  // default 64 KiB, which works, with more wakeups.
  (void)fcntl(fds[1], F_SETPIPE_SZ, limits::PIPE_SIZE);
  return BodyPipe{kj::mv(readEnd), kj::heap<AsyncFd>(port, kj::mv(writeEnd))};
}

kj::Promise<void> pumpResponseBody(Connection& connection, AsyncFd& pipe, BodyFraming framing,
                                   uint64_t length, kj::Timer& timer) {
  switch (framing) {
    case BodyFraming::NONE:
      return kj::READY_NOW;
    case BodyFraming::LENGTH:
      return pumpLength(connection, pipe, length, timer);
    case BodyFraming::UNTIL_CLOSE:
      return pumpUntilClose(connection, pipe, timer);
    case BodyFraming::CHUNKED:
      return pumpChunked(connection, pipe, timer, kj::heap<ChunkedState>());
  }
  KJ_UNREACHABLE;
}

}  // namespace ss::bridge
