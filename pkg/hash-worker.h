// Hashing on a second thread: verifying a package hashes every byte two or three times
// (SHA-256 of the file for its ID, SHA-512 of the container and of the archive for the
// signatures), which costs more than the zstd decompression itself. A HashWorker takes copies
// of the bytes in order and runs `consume` on them on its own thread, so hashing overlaps with
// reading and decompressing. Chunks are batched into 1 MiB buffers; at most a few are queued
// (the producer waits), so memory stays bounded.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <kj/array.h>
#include <kj/function.h>

namespace ss::pkg {

class HashWorker {
public:
  explicit HashWorker(kj::Function<void(kj::ArrayPtr<const kj::byte>)> consume);
  ~HashWorker() noexcept(false);
  KJ_DISALLOW_COPY(HashWorker);

  void add(kj::ArrayPtr<const kj::byte> bytes);
  // Copies `bytes`; they are consumed later, in order.

  void finish();
  // Waits until every byte added has been consumed. Call before reading the results.

private:
  void flush();
  void run();

  kj::Function<void(kj::ArrayPtr<const kj::byte>)> consume;
  std::vector<kj::byte> staging;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::vector<kj::byte>> queue;
  std::vector<std::vector<kj::byte>> spare;
  bool done = false;
  bool busy = false;
  std::thread thread;
};

}  // namespace ss::pkg
