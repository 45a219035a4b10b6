// A provided-buffer ring for multishot recv (io_uring "buffer select").
//
// Buffer lifecycle (as in liburing's examples/echo-server.c):
//   1. the kernel picks a free buffer from the ring when data arrives on any socket whose recv
//      names this group;
//   2. the CQE carries its id (flags >> IORING_CQE_BUFFER_SHIFT) and the byte count;
//   3. the owner parses the bytes in place (copying only a partial request head it must keep);
//   4. the owner calls recycle(id), which hands the buffer back to the kernel.
// If every buffer is held, the kernel fails the recv with -ENOBUFS and ends the multishot (no
// IORING_CQE_F_MORE). The owner then asks Reactor::whenBuffersAvailable() to re-arm it after the
// next recycle; nothing spins.
//
// liburing 2.3 lacks io_uring_setup_buf_ring(): we mmap the ring and register it ourselves.
#pragma once

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>

#include <kj/common.h>

namespace ss::reactor {

class BufferRing {
public:
  BufferRing(io_uring& ring, uint16_t groupId, unsigned count, size_t bufferSize);
  ~BufferRing() noexcept(false);
  KJ_DISALLOW_COPY(BufferRing);

  uint16_t group() const { return groupId; }
  size_t bufferSize() const { return size; }
  unsigned held() const { return heldCount; }  // buffers delivered to us and not yet recycled
  unsigned count() const { return total; }

  kj::ArrayPtr<const char> take(uint16_t id, size_t length);
  // Marks buffer `id` as held by the caller and returns its first `length` bytes.

  void recycle(uint16_t id);
  // Returns a taken buffer to the kernel.

private:
  io_uring& ring;
  io_uring_buf_ring* entries = nullptr;
  size_t entriesBytes = 0;
  char* storage = nullptr;
  size_t storageBytes = 0;
  uint16_t groupId;
  unsigned total;
  size_t size;
  unsigned heldCount = 0;
};

}  // namespace ss::reactor
