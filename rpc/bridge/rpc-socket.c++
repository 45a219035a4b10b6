#include "rpc/bridge/rpc-socket.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <capnp/serialize.h>
#include <kj/debug.h>

#include "rpc/bridge/limits.h"

namespace ss::bridge {

namespace {

constexpr size_t MAX_SEGMENTS = 512;
// Cap'n Proto's own stream reader refuses more segments than this ("Message has too many
// segments"); so do we, before trusting a segment table's size.

constexpr size_t MAX_IOVECS = 1024;  // UIO_MAXIOV: pieces per sendmsg()

uint32_t readLe32(const kj::byte* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

void writeLe32(kj::byte* p, uint32_t v) {
  p[0] = kj::byte(v);
  p[1] = kj::byte(v >> 8);
  p[2] = kj::byte(v >> 16);
  p[3] = kj::byte(v >> 24);
}

kj::Array<capnp::word> segmentTable(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  // Cap'n Proto's stream framing: (segment count - 1), then each segment's size in words, all
  // little-endian uint32, padded to a whole word.
  KJ_REQUIRE(segments.size() > 0 && segments.size() <= MAX_SEGMENTS, "bad message",
             segments.size());
  auto table = kj::heapArray<capnp::word>(segments.size() / 2 + 1);
  auto* p = reinterpret_cast<kj::byte*>(table.begin());
  memset(p, 0, table.size() * sizeof(capnp::word));
  writeLe32(p, uint32_t(segments.size() - 1));
  for (size_t i = 0; i < segments.size(); ++i) {
    writeLe32(p + 4 * (i + 1), uint32_t(segments[i].size()));
  }
  return table;
}

}  // namespace

struct RpcSocket::WriteWaiter {
  // EPOLLOUT interest only while a write waits for room, on a dup of the socket (epoll keys
  // registrations by descriptor number, so the read observer is unaffected).
  WriteWaiter(kj::UnixEventPort& port, kj::AutoCloseFd fdParam)
      : fd(kj::mv(fdParam)), observer(port, fd.get(), kj::UnixEventPort::FdObserver::OBSERVE_WRITE) {}
  kj::AutoCloseFd fd;
  kj::UnixEventPort::FdObserver observer;  // after fd: leaves epoll before the close
};

RpcSocket::RpcSocket(kj::UnixEventPort& port, kj::AutoCloseFd fdParam, size_t maxFdsPerMessage)
    : fd(kj::mv(fdParam)), eventPort(port),
      readObserver(port, fd.get(), kj::UnixEventPort::FdObserver::OBSERVE_READ),
      maxFds(maxFdsPerMessage),
      buffer(kj::heapArray<capnp::word>(limits::RPC_READ_BUFFER_BYTES / sizeof(capnp::word))) {
  int flags;
  KJ_SYSCALL(flags = fcntl(fd.get(), F_GETFL));
  if ((flags & O_NONBLOCK) == 0) {
    KJ_SYSCALL(fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK));
  }
}

RpcSocket::~RpcSocket() noexcept(false) {}

kj::Maybe<size_t> RpcSocket::messageBytesAt(size_t at, size_t available,
                                            const capnp::ReaderOptions& options) {
  // The whole message's size (table included) once its segment table is buffered.
  if (available < 4) return nullptr;
  const kj::byte* p = bytes() + at;
  uint64_t segments = uint64_t(readLe32(p)) + 1;
  KJ_REQUIRE(segments <= MAX_SEGMENTS, "Cap'n Proto message has too many segments", segments);
  size_t tableBytes = (segments / 2 + 1) * sizeof(capnp::word);
  if (available < tableBytes) return nullptr;
  uint64_t words = 0;
  for (size_t i = 0; i < segments; ++i) words += readLe32(p + 4 * (i + 1));
  KJ_REQUIRE(words <= options.traversalLimitInWords,
             "Cap'n Proto message is larger than the receive limit", words);
  return tableBytes + words * sizeof(capnp::word);
}

kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> RpcSocket::tryReadMessage(
    kj::ArrayPtr<kj::AutoCloseFd> fdSpace, capnp::ReaderOptions options,
    kj::ArrayPtr<capnp::word> scratchSpace) {
  KJ_IF_MAYBE(size, messageBytesAt(readPos, fillPos - readPos, options)) {
    if (fillPos - readPos >= *size) {
      return kj::Maybe<capnp::MessageReaderAndFds>(takeMessage(*size, fdSpace, options));
    }
    if (readPos + *size > buffer.size() * sizeof(capnp::word)) {
      // Make room for the whole message: move it to the front, or grow for a big one (bounded
      // by the receive limit checked above; shrunk again once it is taken).
      size_t have = fillPos - readPos;
      if (*size > buffer.size() * sizeof(capnp::word)) {
        auto bigger = kj::heapArray<capnp::word>((*size + sizeof(capnp::word) - 1) /
                                                 sizeof(capnp::word));
        memcpy(bigger.begin(), bytes() + readPos, have);
        buffer = kj::mv(bigger);
      } else {
        memmove(bytes(), bytes() + readPos, have);
      }
      readPos = 0;
      fillPos = have;
    }
  } else if (readPos == fillPos) {
    readPos = fillPos = 0;  // nothing buffered: read at the front
  } else if (fillPos == buffer.size() * sizeof(capnp::word)) {
    memmove(bytes(), bytes() + readPos, fillPos - readPos);  // a table split at the end of the buffer
    fillPos -= readPos;
    readPos = 0;
  }
  if (eof) {
    if (readPos == fillPos) return kj::Maybe<capnp::MessageReaderAndFds>(nullptr);
    kj::throwFatalException(
        KJ_EXCEPTION(DISCONNECTED, "the platform closed the RPC socket in the middle of a message"));
  }
  return receive(options).then([this, fdSpace, options, scratchSpace]() {
    return tryReadMessage(fdSpace, options, scratchSpace);
  });
}

kj::Promise<void> RpcSocket::receive(const capnp::ReaderOptions& options) {
  KJ_IF_MAYBE(ready, readable) {
    // The last read found the queue empty and already asked for the next edge.
    auto wait = kj::mv(*ready);
    readable = nullptr;
    return wait.then([this, options]() { return receive(options); });
  }
  size_t space = buffer.size() * sizeof(capnp::word) - fillPos;
  KJ_ASSERT(space > 0);
  struct iovec iov = {bytes() + fillPos, space};
  size_t controlBytes = CMSG_SPACE(sizeof(int) * kj::max(maxFds, size_t(1)));
  KJ_STACK_ARRAY(kj::byte, control, controlBytes, 64, 256);
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.begin();
  msg.msg_controllen = control.size();
  ssize_t n;
  do {
    n = ::recvmsg(fd.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK) {
      return readObserver.whenBecomesReadable().then([this, options]() {
        return receive(options);
      });
    }
    if (error == ECONNRESET) {
      eof = true;
      return kj::READY_NOW;
    }
    KJ_FAIL_SYSCALL("recvmsg", error);
  }

  kj::Vector<kj::AutoCloseFd> fds;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const kj::byte* data = CMSG_DATA(c);
    for (size_t i = 0; i < count; ++i) {
      int received;
      memcpy(&received, data + i * sizeof(int), sizeof(int));
      fds.add(kj::AutoCloseFd(received));  // owned at once: closed if we throw below
    }
  }
  KJ_REQUIRE((msg.msg_flags & MSG_CTRUNC) == 0,
             "the platform sent more file descriptors with one message than allowed",
             maxFds);
  if (n == 0) {
    eof = true;
    return kj::READY_NOW;
  }
  size_t readStart = fillPos;
  fillPos += size_t(n);
  if (fds.size() > 0) {
    placeFds(fds.releaseAsArray(), readStart, options);
  } else if (size_t(n) < space) {
    // A short read drained the queue (the kernel stops early only at a buffer that carried
    // descriptors). Ask for the next edge now, in this turn, so that none can slip by.
    readable = readObserver.whenBecomesReadable();
  }
  return kj::READY_NOW;
}

void RpcSocket::placeFds(kj::Array<kj::AutoCloseFd> fds, size_t readStart,
                         const capnp::ReaderOptions& options) {
  // They belong to the last message that starts in [readStart, fillPos) (see the header). Walk the
  // messages from the first buffered one.
  size_t at = readPos;
  for (;;) {
    KJ_IF_MAYBE(size, messageBytesAt(at, fillPos - at, options)) {
      if (at + *size < fillPos) {
        at += *size;
        continue;
      }
    }
    break;
  }
  KJ_REQUIRE(at >= readStart,
             "file descriptors arrived in the middle of a Cap'n Proto message; the platform "
             "must send each message that carries descriptors with one sendmsg()");
  KJ_REQUIRE(fds.size() <= maxFds, "too many file descriptors with one message", fds.size());
  pendingFds.push_back(ReceivedFds{streamOffset + (at - readPos), kj::mv(fds)});
}

capnp::MessageReaderAndFds RpcSocket::takeMessage(size_t size,
                                                  kj::ArrayPtr<kj::AutoCloseFd> fdSpace,
                                                  const capnp::ReaderOptions& options) {
  // A copy: the RPC system keeps a call's parameters (this reader) until the call returns,
  // while the buffer moves on to the next message.
  auto words = kj::heapArray<capnp::word>(size / sizeof(capnp::word));
  KJ_REQUIRE(size % sizeof(capnp::word) == 0, "misaligned Cap'n Proto message");
  memcpy(words.begin(), bytes() + readPos, size);
  uint64_t start = streamOffset;
  readPos += size;
  streamOffset += size;
  if (readPos == fillPos && buffer.size() * sizeof(capnp::word) > limits::RPC_READ_BUFFER_BYTES) {
    // A big message grew the buffer: give the memory back.
    buffer = kj::heapArray<capnp::word>(limits::RPC_READ_BUFFER_BYTES / sizeof(capnp::word));
    readPos = fillPos = 0;
  }

  size_t fdCount = 0;
  if (!pendingFds.empty() && pendingFds.front().messageStart == start) {
    auto& received = pendingFds.front().fds;
    // Like KJ's stream: descriptors beyond the caller's space are closed, not passed on.
    fdCount = kj::min(received.size(), fdSpace.size());
    for (size_t i = 0; i < fdCount; ++i) fdSpace[i] = kj::mv(received[i]);
    pendingFds.pop_front();
  }
  KJ_ASSERT(pendingFds.empty() || pendingFds.front().messageStart > start);

  auto reader = kj::heap<capnp::FlatArrayMessageReader>(words, options).attach(kj::mv(words));
  return capnp::MessageReaderAndFds{kj::mv(reader), fdSpace.slice(0, fdCount)};
}

kj::Promise<void> RpcSocket::writeMessage(
    kj::ArrayPtr<const int> fds, kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  auto tables = kj::heapArrayBuilder<kj::Array<capnp::word>>(1);
  tables.add(segmentTable(segments));
  auto pieces = kj::heapArrayBuilder<struct iovec>(segments.size() + 1);
  pieces.add(iovec{tables[0].begin(), tables[0].size() * sizeof(capnp::word)});
  for (auto& s: segments) {
    pieces.add(iovec{const_cast<capnp::word*>(s.begin()), s.size() * sizeof(capnp::word)});
  }
  return sendAll(pieces.finish(), kj::heapArray(fds), tables.finish());
}

kj::Promise<void> RpcSocket::writeMessages(
    kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) {
  // One sendmsg() for the batch (no descriptors: the interface has none for batches).
  size_t count = 0;
  for (auto& m: messages) count += m.size() + 1;
  auto tables = kj::heapArrayBuilder<kj::Array<capnp::word>>(messages.size());
  auto pieces = kj::heapArrayBuilder<struct iovec>(count);
  for (auto& m: messages) {
    tables.add(segmentTable(m));
    auto& t = tables[tables.size() - 1];
    pieces.add(iovec{t.begin(), t.size() * sizeof(capnp::word)});
    for (auto& s: m) {
      pieces.add(iovec{const_cast<capnp::word*>(s.begin()), s.size() * sizeof(capnp::word)});
    }
  }
  return sendAll(pieces.finish(), nullptr, tables.finish());
}

kj::Promise<void> RpcSocket::sendAll(kj::Array<struct iovec> pieces, kj::Array<int> fds,
                                     kj::Array<kj::Array<capnp::word>> tables) {
  // The RPC system writes one message at a time (TwoPartyVatNetwork chains its writes).
  KJ_REQUIRE(!writing, "RpcSocket: overlapping writes");
  size_t first = 0;
  while (first < pieces.size()) {
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = pieces.begin() + first;
    msg.msg_iovlen = kj::min(pieces.size() - first, MAX_IOVECS);
    KJ_STACK_ARRAY(kj::byte, control, fds.size() == 0 ? 0 : CMSG_SPACE(sizeof(int) * fds.size()),
                   64, 256);
    if (fds.size() > 0) {
      memset(control.begin(), 0, control.size());
      msg.msg_control = control.begin();
      msg.msg_controllen = control.size();
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      memcpy(CMSG_DATA(c), fds.begin(), sizeof(int) * fds.size());
    }
    ssize_t n = ::sendmsg(fd.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      int error = errno;
      if (error == EINTR) continue;
      if (error != EAGAIN && error != EWOULDBLOCK) {
        if (error == EPIPE || error == ECONNRESET) {
          kj::throwFatalException(
              KJ_EXCEPTION(DISCONNECTED, "the platform closed the RPC socket", error));
        }
        KJ_FAIL_SYSCALL("sendmsg", error);
      }
      // No room: wait (rare, the platform is not reading), then go on with what is left.
      writing = true;
      auto rest = kj::heapArray<struct iovec>(pieces.slice(first, pieces.size()));
      return whenWritable().then([this, rest = kj::mv(rest), fds = kj::mv(fds),
                                  tables = kj::mv(tables)]() mutable {
        writing = false;
        return sendAll(kj::mv(rest), kj::mv(fds), kj::mv(tables));
      });
    }
    fds = nullptr;  // sent with the first bytes, which is where the reader expects them
    size_t left = size_t(n);
    while (left > 0 && first < pieces.size()) {
      auto& piece = pieces[first];
      if (left >= piece.iov_len) {
        left -= piece.iov_len;
        ++first;
      } else {
        piece.iov_base = static_cast<kj::byte*>(piece.iov_base) + left;
        piece.iov_len -= left;
        left = 0;
      }
    }
    while (first < pieces.size() && pieces[first].iov_len == 0) ++first;
  }
  writeWaiter = nullptr;  // no EPOLLOUT interest while writes go through
  return kj::READY_NOW;
}

kj::Promise<void> RpcSocket::whenWritable() {
  if (writeWaiter == nullptr) {
    int copy;
    KJ_SYSCALL(copy = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
    // Registering reports the current state too, so room made since the EAGAIN is not missed.
    writeWaiter = kj::heap<WriteWaiter>(eventPort, kj::AutoCloseFd(copy));
  }
  return KJ_ASSERT_NONNULL(writeWaiter)->observer.whenBecomesWritable();
}

kj::Maybe<int> RpcSocket::getSendBufferSize() {
  int size;
  socklen_t len = sizeof(size);
  KJ_SYSCALL(getsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &size, &len));
  return size;
}

kj::Promise<void> RpcSocket::end() {
  KJ_SYSCALL(shutdown(fd.get(), SHUT_WR));
  return kj::READY_NOW;
}

}  // namespace ss::bridge
