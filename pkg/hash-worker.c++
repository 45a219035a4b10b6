#include "pkg/hash-worker.h"

#include <string.h>

namespace ss::pkg {

namespace {
constexpr size_t BATCH_BYTES = 1 << 20;
constexpr size_t MAX_QUEUED = 8;  // 8 MiB in flight at most
}  // namespace

HashWorker::HashWorker(kj::Function<void(kj::ArrayPtr<const kj::byte>)> consume)
    : consume(kj::mv(consume)), thread([this]() { run(); }) {
  staging.reserve(BATCH_BYTES);
}

HashWorker::~HashWorker() noexcept(false) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    done = true;
    queue.clear();  // abandoned (a rejection mid-read): nothing more to hash
  }
  changed.notify_all();
  thread.join();
}

void HashWorker::add(kj::ArrayPtr<const kj::byte> bytes) {
  while (bytes.size() > 0) {
    size_t n = std::min(bytes.size(), BATCH_BYTES - staging.size());
    staging.insert(staging.end(), bytes.begin(), bytes.begin() + n);
    bytes = bytes.slice(n, bytes.size());
    if (staging.size() == BATCH_BYTES) flush();
  }
}

void HashWorker::flush() {
  if (staging.empty()) return;
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [this]() { return queue.size() < MAX_QUEUED; });
  std::vector<kj::byte> next;
  if (!spare.empty()) {
    next = std::move(spare.back());
    spare.pop_back();
  }
  next.clear();
  next.reserve(BATCH_BYTES);
  queue.push_back(std::move(staging));
  staging = std::move(next);
  lock.unlock();
  changed.notify_all();
}

void HashWorker::finish() {
  flush();
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [this]() { return queue.empty() && !busy; });
}

void HashWorker::run() {
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    changed.wait(lock, [this]() { return done || !queue.empty(); });
    if (queue.empty()) return;  // done
    auto chunk = std::move(queue.front());
    queue.pop_front();
    busy = true;
    lock.unlock();
    changed.notify_all();
    consume(kj::ArrayPtr<const kj::byte>(chunk.data(), chunk.size()));
    lock.lock();
    busy = false;
    spare.push_back(std::move(chunk));
    changed.notify_all();
  }
}

}  // namespace ss::pkg
