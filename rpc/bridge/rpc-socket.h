// The bridge's end of the platform's Cap'n Proto connection (fd 3), as a capnp::MessageStream.
//
// Why not KJ's own stream (wrapUnixSocketFd + TwoPartyVatNetwork): measured per request
// (perf/README.md, "grain path"), it cost the bridge 3-4 wakeups and ~9 syscalls on fd 3 alone:
//   - every message took two reads (the 8-byte segment table, then the rest) plus a third read
//     that said EAGAIN, so a call and its Finish cost six syscalls;
//   - KJ watches the socket for EPOLLOUT as well as EPOLLIN, edge-triggered, and a Unix socket
//     signals EPOLLOUT every time the peer *reads* (unix_write_space has no "was full" test):
//     each response the platform read woke the bridge for nothing, one context switch on the
//     grain's shared core per request.
// Here the socket is watched for input only, and read into a buffer: one recvmsg() brings a
// whole message (or several), and a short read means the queue was empty, so we wait for the
// next edge without another EAGAIN read. Writing waits for room (rare: only when the platform
// stops reading) through a second descriptor (dup) registered for EPOLLOUT only while needed.
//
// File descriptors (SCM_RIGHTS): the kernel attaches them to the first buffer (skb) of the
// sendmsg() that carried them, and recvmsg() stops right after a buffer with descriptors. Every
// writer on this socket is a Cap'n Proto MessageStream that sends each message that carries
// descriptors with one sendmsg() starting at the message's first byte. So the descriptors one
// recvmsg() returns belong to the last message that starts within the bytes it returned; a
// read whose descriptors cannot be placed that way is a protocol error.
#pragma once

#include <stdint.h>
#include <sys/uio.h>

#include <deque>

#include <capnp/serialize-async.h>
#include <kj/async-unix.h>
#include <kj/io.h>

namespace ss::bridge {

class RpcSocket final: public capnp::MessageStream {
public:
  RpcSocket(kj::UnixEventPort& port, kj::AutoCloseFd fd, size_t maxFdsPerMessage);
  // `fd`: a connected AF_UNIX stream socket; it is made non-blocking.
  ~RpcSocket() noexcept(false);
  KJ_DISALLOW_COPY(RpcSocket);

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(
      kj::ArrayPtr<kj::AutoCloseFd> fdSpace, capnp::ReaderOptions options,
      kj::ArrayPtr<capnp::word> scratchSpace) override;
  kj::Promise<void> writeMessage(kj::ArrayPtr<const int> fds,
                                 kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments)
      override;
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override;
  kj::Maybe<int> getSendBufferSize() override;
  kj::Promise<void> end() override;

private:
  struct ReceivedFds {
    uint64_t messageStart;              // stream offset of the message they came with
    kj::Array<kj::AutoCloseFd> fds;
  };

  kj::AutoCloseFd fd;
  kj::UnixEventPort& eventPort;
  kj::UnixEventPort::FdObserver readObserver;  // EPOLLIN only (see above)
  size_t maxFds;

  kj::Array<capnp::word> buffer;  // words: messages start 8-byte aligned at stream offset 0 mod 8
  size_t readPos = 0;             // bytes of `buffer` consumed
  size_t fillPos = 0;             // bytes of `buffer` filled
  uint64_t streamOffset = 0;      // stream offset of buffer[readPos]
  kj::Maybe<kj::Promise<void>> readable;  // the last read came back short: the next edge
  bool eof = false;
  std::deque<ReceivedFds> pendingFds;     // in stream order

  bool writing = false;
  struct WriteWaiter;
  kj::Maybe<kj::Own<WriteWaiter>> writeWaiter;

  kj::byte* bytes() { return reinterpret_cast<kj::byte*>(buffer.begin()); }
  kj::Maybe<size_t> messageBytesAt(size_t at, size_t available, const capnp::ReaderOptions& o);
  kj::Promise<void> receive(const capnp::ReaderOptions& options);
  void placeFds(kj::Array<kj::AutoCloseFd> fds, size_t readStart, const capnp::ReaderOptions& o);
  capnp::MessageReaderAndFds takeMessage(size_t size, kj::ArrayPtr<kj::AutoCloseFd> fdSpace,
                                         const capnp::ReaderOptions& options);
  kj::Promise<void> sendAll(kj::Array<struct iovec> pieces, kj::Array<int> fds,
                            kj::Array<kj::Array<capnp::word>> tables);
  kj::Promise<void> whenWritable();
};

}  // namespace ss::bridge
