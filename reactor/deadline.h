// Deadlines for connections: O(1) arm/disarm, no syscall, no SQE.
//
// Every entry of a DeadlineQueue shares one duration (e.g. "head must complete within 15 s"),
// so appending at arm time keeps the list sorted by expiry and the reactor only ever looks at
// the head (the nginx timer idea, minus the red-black tree). A Deadline node lives inside its
// owner (a connection) and is in at most one queue at a time; moving between queues (head ->
// idle -> send) is an unlink + append.
#pragma once

#include <stdint.h>

#include <kj/common.h>

#include "base/clock.h"

namespace ss::reactor {

class DeadlineQueue;

class Deadline {
public:
  class Handler {
  public:
    virtual void onDeadline() = 0;
    // Called once when the deadline passes; the node is already unlinked. May re-arm or
    // destroy the owner.
  protected:
    ~Handler() = default;
  };

  explicit Deadline(Handler& handler): handler(handler) {}
  ~Deadline() noexcept(false);
  KJ_DISALLOW_COPY(Deadline);

  bool armed() const { return queue != nullptr; }
  void disarm();

private:
  friend class DeadlineQueue;
  Handler& handler;
  DeadlineQueue* queue = nullptr;
  Deadline* prev = nullptr;
  Deadline* next = nullptr;
  MonoMs when = 0;
};

class DeadlineQueue {
public:
  explicit DeadlineQueue(uint64_t durationMs): duration(durationMs) {}
  ~DeadlineQueue() noexcept(false);
  KJ_DISALLOW_COPY(DeadlineQueue);

  void arm(Deadline& node, MonoMs now);
  // (Re)arms `node` to expire at now + duration, moving it from any other queue.

  kj::Maybe<MonoMs> nextExpiry() const;
  void expire(MonoMs now);
  // Fires every node whose time has come, oldest first.

  uint64_t durationMs() const { return duration; }
  size_t size() const { return count; }

private:
  friend class Deadline;
  void unlink(Deadline& node);

  uint64_t duration;
  Deadline* head = nullptr;
  Deadline* tail = nullptr;
  size_t count = 0;
};

}  // namespace ss::reactor
