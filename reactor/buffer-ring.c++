#include "reactor/buffer-ring.h"

#include <sys/mman.h>

#include "base/syscall.h"

namespace ss::reactor {

BufferRing::BufferRing(io_uring& ring, uint16_t groupId, unsigned count, size_t bufferSize)
    : ring(ring), groupId(groupId), total(count), size(bufferSize) {
  KJ_REQUIRE(count > 0 && count <= 32768 && (count & (count - 1)) == 0,
             "buffer ring size must be a power of two <= 32768", count);

  // The ring of descriptors must be page-aligned and shared with the kernel: mmap gives both.
  entriesBytes = count * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, entriesBytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) KJ_FAIL_SYSCALL("mmap(buffer ring)", errno, entriesBytes);
  entries = static_cast<io_uring_buf_ring*>(mem);

  // The buffers themselves. The kernel hands them out in ring (FIFO) order, so under any load
  // every one of them gets touched: populate them now. They are a fixed pool (4 MiB by default),
  // part of the baseline, not a cost that grows with connections.
  storageBytes = count * bufferSize;
  mem = mmap(nullptr, storageBytes, PROT_READ | PROT_WRITE,
             MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) {
    munmap(entries, entriesBytes);
    KJ_FAIL_SYSCALL("mmap(recv buffers)", errno, storageBytes);
  }
  storage = static_cast<char*>(mem);

  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(entries);
  reg.ring_entries = count;
  reg.bgid = groupId;
  int res = io_uring_register_buf_ring(&ring, &reg, 0);
  if (res < 0) {
    munmap(entries, entriesBytes);
    munmap(storage, storageBytes);
    KJ_FAIL_SYSCALL("io_uring_register_buf_ring (needs Linux 5.19+)", -res, groupId);
  }

  io_uring_buf_ring_init(entries);
  int mask = io_uring_buf_ring_mask(count);
  for (unsigned i = 0; i < count; i++) {
    io_uring_buf_ring_add(entries, storage + i * size, size, i, mask, i);
  }
  io_uring_buf_ring_advance(entries, count);
}

BufferRing::~BufferRing() noexcept(false) {
  io_uring_unregister_buf_ring(&ring, groupId);
  munmap(entries, entriesBytes);
  munmap(storage, storageBytes);
}

kj::ArrayPtr<const char> BufferRing::take(uint16_t id, size_t length) {
  KJ_REQUIRE(id < total && length <= size, "kernel returned an impossible buffer", id, length);
  heldCount++;
  return kj::arrayPtr(storage + size_t(id) * size, length);
}

void BufferRing::recycle(uint16_t id) {
  KJ_REQUIRE(id < total && heldCount > 0);
  heldCount--;
  io_uring_buf_ring_add(entries, storage + size_t(id) * size, size, id,
                        io_uring_buf_ring_mask(total), 0);
  io_uring_buf_ring_advance(entries, 1);
}

}  // namespace ss::reactor
