#include "reactor/deadline.h"

#include <kj/debug.h>

namespace ss::reactor {

Deadline::~Deadline() noexcept(false) { disarm(); }

void Deadline::disarm() {
  if (queue != nullptr) queue->unlink(*this);
}

DeadlineQueue::~DeadlineQueue() noexcept(false) {
  while (head != nullptr) unlink(*head);
}

void DeadlineQueue::unlink(Deadline& node) {
  KJ_DASSERT(node.queue == this);
  if (node.prev != nullptr) node.prev->next = node.next; else head = node.next;
  if (node.next != nullptr) node.next->prev = node.prev; else tail = node.prev;
  node.prev = node.next = nullptr;
  node.queue = nullptr;
  count--;
}

void DeadlineQueue::arm(Deadline& node, MonoMs now) {
  node.disarm();
  node.when = now + duration;
  node.queue = this;
  node.prev = tail;
  node.next = nullptr;
  if (tail != nullptr) tail->next = &node; else head = &node;
  tail = &node;
  count++;
}

kj::Maybe<MonoMs> DeadlineQueue::nextExpiry() const {
  if (head == nullptr) return nullptr;
  return head->when;
}

void DeadlineQueue::expire(MonoMs now) {
  // Bounded: each iteration removes the head; a handler that re-arms lands at the tail with a
  // later time, so the loop cannot revisit it in this call (duration > 0).
  while (head != nullptr && head->when <= now) {
    Deadline& node = *head;
    unlink(node);
    node.handler.onDeadline();
  }
}

}  // namespace ss::reactor
