#include "reactor/async-stream.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <kj/debug.h>

#include "base/syscall.h"

namespace ss::reactor {

namespace {
constexpr size_t MAX_FDS_PER_READ = 16;   // more than any one capnp message of ours carries
constexpr size_t MAX_IOVECS = 64;         // pieces per sendmsg; the rest go in the next call
}  // namespace

ReactorStream::ReactorStream(Reactor& reactor, AutoCloseFd fd)
    : reactor(reactor), socket(kj::mv(fd)) {
  setNonblocking(socket);
}

ReactorStream::~ReactorStream() noexcept(false) {}

kj::Promise<size_t> ReactorStream::tryRead(void* buffer, size_t minBytes, size_t maxBytes) {
  return readLoop(static_cast<kj::byte*>(buffer), minBytes, maxBytes, nullptr, 0, {0, 0})
      .then([](ReadResult result) { return result.byteCount; });
}

kj::Promise<ReactorStream::ReadResult> ReactorStream::tryReadWithFds(
    void* buffer, size_t minBytes, size_t maxBytes, kj::AutoCloseFd* fdBuffer, size_t maxFds) {
  return readLoop(static_cast<kj::byte*>(buffer), minBytes, maxBytes, fdBuffer, maxFds, {0, 0});
}

kj::Promise<ReactorStream::ReadResult> ReactorStream::readLoop(
    kj::byte* buffer, size_t minBytes, size_t maxBytes, kj::AutoCloseFd* fdBuffer,
    size_t maxFds, ReadResult done) {
  for (;;) {
    iovec iov{buffer + done.byteCount, maxBytes - done.byteCount};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_READ)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fdBuffer != nullptr) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
    }
    ssize_t n = ::recvmsg(socket, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        return reactor.whenReadable(socket).then(
            [this, buffer, minBytes, maxBytes, fdBuffer, maxFds, done]() {
              return readLoop(buffer, minBytes, maxBytes, fdBuffer, maxFds, done);
            });
      }
      int error = errno;
      if (error == ECONNRESET) return done;  // treat a reset like EOF, as KJ does
      KJ_FAIL_SYSCALL("recvmsg", error);
    }
    if (fdBuffer != nullptr) {
      // Keep up to maxFds; close any excess immediately so a peer cannot fill our fd table.
      for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int* fds = reinterpret_cast<int*>(CMSG_DATA(cmsg));
        for (size_t i = 0; i < count; i++) {
          if (done.capCount < maxFds) {
            fdBuffer[done.capCount++] = kj::AutoCloseFd(fds[i]);
          } else {
            ::close(fds[i]);
          }
        }
      }
      KJ_REQUIRE((msg.msg_flags & MSG_CTRUNC) == 0, "peer sent more file descriptors than allowed");
    }
    if (n == 0) return done;  // EOF
    done.byteCount += n;
    if (done.byteCount >= minBytes || done.byteCount == maxBytes) return done;
  }
}

kj::Promise<void> ReactorStream::write(const void* buffer, size_t size) {
  auto pieces = kj::heapArray<kj::ArrayPtr<const kj::byte>>(1);
  pieces[0] = kj::arrayPtr(static_cast<const kj::byte*>(buffer), size);
  return writeLoop(kj::mv(pieces), 0, kj::Array<int>());
}

kj::Promise<void> ReactorStream::write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  return writeLoop(kj::heapArray(pieces), 0, kj::Array<int>());
}

kj::Promise<void> ReactorStream::writeWithFds(
    kj::ArrayPtr<const kj::byte> data, kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> moreData,
    kj::ArrayPtr<const int> fds) {
  auto pieces = kj::heapArrayBuilder<kj::ArrayPtr<const kj::byte>>(moreData.size() + 1);
  pieces.add(data);
  pieces.addAll(moreData);
  KJ_REQUIRE(data.size() > 0 || fds.size() == 0, "file descriptors must travel with data");
  // Copied: the caller's array need not outlive a write that waits for room.
  return writeLoop(pieces.finish(), 0, kj::heapArray(fds));
}

kj::Promise<void> ReactorStream::writeLoop(kj::Array<kj::ArrayPtr<const kj::byte>> pieces,
                                           size_t skip, kj::Array<int> fds) {
  // `skip`: bytes of the pieces already written by earlier calls.
  for (;;) {
    iovec iov[MAX_IOVECS];
    size_t count = 0;
    size_t offset = skip;
    for (auto& piece: pieces) {
      if (offset >= piece.size()) {
        offset -= piece.size();
        continue;
      }
      if (count == MAX_IOVECS) break;
      iov[count].iov_base = const_cast<kj::byte*>(piece.begin() + offset);
      iov[count].iov_len = piece.size() - offset;
      offset = 0;
      count++;
    }
    if (count == 0) return kj::READY_NOW;

    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_READ)];
    if (fds.size() > 0) {
      KJ_REQUIRE(fds.size() <= MAX_FDS_PER_READ, "too many file descriptors in one message");
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      memcpy(CMSG_DATA(cmsg), fds.begin(), sizeof(int) * fds.size());
    }
    ssize_t n = ::sendmsg(socket, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        return reactor.whenWritable(socket).then(
            [this, pieces = kj::mv(pieces), skip, fds = kj::mv(fds)]() mutable {
              return writeLoop(kj::mv(pieces), skip, kj::mv(fds));
            });
      }
      int error = errno;
      if (error == EPIPE || error == ECONNRESET) {
        return KJ_EXCEPTION(DISCONNECTED, "peer disconnected", errnoName(error));
      }
      KJ_FAIL_SYSCALL("sendmsg", error);
    }
    // The fds went with the first byte; never send them twice.
    if (n > 0) fds = kj::Array<int>();
    skip += n;
  }
}

kj::Promise<void> ReactorStream::whenWriteDisconnected() {
  KJ_IF_MAYBE(forked, disconnected) {
    return forked->addBranch();
  }
  // Poll with no requested events: io_uring always reports POLLHUP/POLLERR, which is exactly
  // "the peer can no longer receive".
  auto forked = reactor.whenHungUp(socket).fork();
  auto branch = forked.addBranch();
  disconnected = kj::mv(forked);
  return branch;
}

void ReactorStream::shutdownWrite() {
  KJ_SYSCALL(::shutdown(socket, SHUT_WR));
}

void ReactorStream::abortRead() {
  // Linux has no way to abort a pending read on the peer's behalf; shutting our read side makes
  // further reads return EOF, which is what callers expect.
  ::shutdown(socket, SHUT_RD);
}

kj::Promise<void> ReactorStream::writeWithStreams(
    kj::ArrayPtr<const kj::byte> data, kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> moreData,
    kj::Array<kj::Own<kj::AsyncCapabilityStream>> streams) {
  KJ_UNIMPLEMENTED("ReactorStream passes raw fds, not streams");
}

kj::Promise<ReactorStream::ReadResult> ReactorStream::tryReadWithStreams(
    void* buffer, size_t minBytes, size_t maxBytes,
    kj::Own<kj::AsyncCapabilityStream>* streamBuffer, size_t maxStreams) {
  KJ_UNIMPLEMENTED("ReactorStream passes raw fds, not streams");
}

}  // namespace ss::reactor
