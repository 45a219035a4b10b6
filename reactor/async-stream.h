// A kj::AsyncCapabilityStream on the reactor: a non-blocking socket whose readiness comes from
// the ring. It lets Cap'n Proto's TwoPartyVatNetwork run on our one loop, including passing file
// descriptors (SCM_RIGHTS), which is how grains receive body pipes.
//
// Reads and writes try the syscall first and wait for readiness only on EAGAIN, so a busy
// stream costs one syscall per operation, as with KJ's own AsyncStreamFd.
#pragma once

#include <kj/async-io.h>

#include "base/fd.h"
#include "reactor/reactor.h"

namespace ss::reactor {

class ReactorStream final: public kj::AsyncCapabilityStream {
public:
  ReactorStream(Reactor& reactor, AutoCloseFd fd);
  // `fd` must be a connected stream socket (AF_UNIX for fd passing); it is made non-blocking.
  ~ReactorStream() noexcept(false);

  int fd() const { return socket; }

  kj::Promise<size_t> tryRead(void* buffer, size_t minBytes, size_t maxBytes) override;
  kj::Promise<ReadResult> tryReadWithFds(void* buffer, size_t minBytes, size_t maxBytes,
                                         kj::AutoCloseFd* fdBuffer, size_t maxFds) override;
  kj::Promise<void> write(const void* buffer, size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> writeWithFds(kj::ArrayPtr<const kj::byte> data,
                                 kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> moreData,
                                 kj::ArrayPtr<const int> fds) override;
  kj::Promise<void> whenWriteDisconnected() override;
  void shutdownWrite() override;
  void abortRead() override;

  kj::Promise<void> writeWithStreams(kj::ArrayPtr<const kj::byte> data,
                                     kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> moreData,
                                     kj::Array<kj::Own<kj::AsyncCapabilityStream>> streams) override;
  kj::Promise<ReadResult> tryReadWithStreams(void* buffer, size_t minBytes, size_t maxBytes,
                                             kj::Own<kj::AsyncCapabilityStream>* streamBuffer,
                                             size_t maxStreams) override;
  // Not supported: pass raw fds instead (writeWithFds / tryReadWithFds).

private:
  kj::Promise<ReadResult> readLoop(kj::byte* buffer, size_t minBytes, size_t maxBytes,
                                   kj::AutoCloseFd* fdBuffer, size_t maxFds, ReadResult done);
  kj::Promise<void> writeLoop(kj::Array<kj::ArrayPtr<const kj::byte>> pieces, size_t skip,
                              kj::Array<int> fds);

  Reactor& reactor;
  AutoCloseFd socket;
  kj::Maybe<kj::ForkedPromise<void>> disconnected;
};

}  // namespace ss::reactor
