// The reactor: one thread, one io_uring ring, and KJ's event loop on top of it.
//
// Reactor implements kj::EventPort, so KJ promises, kj::Timer and (later) Cap'n Proto RPC run
// on the same thread and ring as our own hot-path ops:
//   wait()  = submit pending SQEs, sleep until a CQE or the next timer/deadline, dispatch;
//   poll()  = the same without sleeping;
//   wake()  = write to an eventfd that the ring polls (for other threads; we have none today).
// Completions are copied out of the CQ in batches first and their callbacks run afterwards
// (never from inside the reaping loop), so a callback that submits or cancels cannot recurse
// into the CQ (TigerBeetle's flush_completions rule).
//
// Usage:
//   ss::reactor::Reactor reactor;          // throws a clear message if io_uring is unusable
//   kj::EventLoop loop(reactor);
//   kj::WaitScope waitScope(loop);
//   someKjPromise.wait(waitScope);         // drives everything
//
// Not thread-safe (except wake()). Construct it after privileges are dropped: a ring keeps
// the credentials it was created with (facts/security.md §0.3).
#pragma once

#include <liburing.h>
#include <sys/types.h>

#include <kj/async.h>
#include <kj/function.h>
#include <kj/timer.h>
#include <kj/vector.h>

#include "base/clock.h"
#include "base/fd.h"
#include "reactor/buffer-ring.h"
#include "reactor/deadline.h"
#include "reactor/op.h"

namespace ss::reactor {

struct Features {
  bool deferTaskrun = false;     // IORING_SETUP_DEFER_TASKRUN (6.1): completions run on our
                                 // thread at wait time, fewer interrupts
  bool singleIssuer = false;     // IORING_SETUP_SINGLE_ISSUER (6.0)
  bool recvMultishot = false;    // IORING_RECV_MULTISHOT (6.0)
  bool acceptMultishot = false;  // IORING_ACCEPT_MULTISHOT (5.19)
};

struct ReactorOptions {
  unsigned sqEntries;
  unsigned cqEntries;
  unsigned recvBufferCount;
  size_t recvBufferSize;
  ReactorOptions();  // defaults from base/limits.h
};

class Reactor final: public kj::EventPort {
public:
  explicit Reactor(ReactorOptions options = ReactorOptions());
  // Throws kj::Exception whose description says what is wrong and what to do when io_uring is
  // disabled (kernel.io_uring_disabled), blocked (seccomp, e.g. Docker's default profile), or
  // the kernel is too old for an op we rely on.
  ~Reactor() noexcept(false);
  KJ_DISALLOW_COPY(Reactor);

  const Features& features() const { return feats; }

  // ---- Submitting ops --------------------------------------------------------------------
  io_uring_sqe& prepare(Op& op);
  // A cleared SQE whose user_data names `op`, counted as in flight. Fill in the opcode with a
  // liburing io_uring_prep_* helper *before* this call's caller returns to the loop. If the SQ is
  // full, pending SQEs are submitted first (never fails for lack of space).

  void prepareAccept(Op& op, int listenFd);         // multishot, SOCK_CLOEXEC|SOCK_NONBLOCK
  void prepareRecv(Op& op, int fd);                 // multishot, into the buffer ring
  void prepareSend(Op& op, int fd, const void* data, size_t size);  // MSG_NOSIGNAL
  void prepareConnect(Op& op, int fd, const sockaddr* addr, socklen_t length);
  void preparePoll(Op& op, int fd, unsigned events, bool multishot = false);
  void prepareClose(Op& op, int fd);
  // Each fills one SQE for `op`; the result arrives in op.onComplete(res, flags) as the
  // syscall's result or -errno.

  void cancel(Op& op);
  // Asks the kernel to cancel every submission of `op` (IORING_OP_ASYNC_CANCEL by user_data).
  // The op stays in flight until its last CQE arrives (-ECANCELED, or a real result if it
  // completed first); only then may it be destroyed or re-armed.

  void orphan(kj::Own<Op> op);
  // Takes ownership of an op whose owner is going away: cancels it if in flight, delivers no
  // more callbacks, and frees it after its last CQE. (Cancel-by-destruction.)

  // ---- Buffers for multishot recv --------------------------------------------------------
  BufferRing& buffers() { return *recvBuffers; }
  void whenBuffersAvailable(kj::Function<void()> rearm);
  // Runs `rearm` at the end of the first loop turn in which buffers were recycled (after a recv
  // failed with -ENOBUFS).

  // ---- Time --------------------------------------------------------------------------------
  MonoMs now() const { return nowMs; }  // cached at the start of each loop turn
  void addDeadlineQueue(DeadlineQueue& queue);
  void removeDeadlineQueue(DeadlineQueue& queue);
  // The reactor sleeps no longer than the earliest head of any registered queue and fires
  // expired entries each turn.
  kj::Timer& timer() { return kjTimer; }

  // ---- Promise-style helpers (built on the ops above; cancel by destroying the promise) ----
  kj::Promise<void> whenReadable(int fd);
  kj::Promise<void> whenWritable(int fd);
  kj::Promise<void> whenHungUp(int fd);  // POLLHUP or POLLERR: the peer is gone
  kj::Promise<int> onChildExit(pid_t pid);
  // Resolves with the child's wait status (as from waitpid) when it exits; watches a pidfd
  // through the ring and reaps the child. The caller must own `pid` (it is our child).

  // ---- Statistics (for tests and /metrics) --------------------------------------------------
  uint64_t staleCompletions() const { return staleCount; }
  size_t orphanCount() const { return orphans.size(); }
  uint64_t submittedOps() const { return submittedCount; }
  uint64_t splicedBytes() const { return splicedCount; }
  void countSpliced(uint64_t bytes) { splicedCount += bytes; }  // by reactor/splice.c++

  // kj::EventPort
  bool wait() override;
  bool poll() override;
  void wake() const override;

private:
  class WakeOp;
  void turn(bool block);
  void dispatch(io_uring_cqe& cqe);
  kj::Maybe<MonoNs> nextTimeoutNs();
  void flushIfFull();

  io_uring ring;
  Features feats;
  kj::Own<BufferRing> recvBuffers;
  MonoMs nowMs;
  kj::TimerImpl kjTimer;
  kj::Vector<DeadlineQueue*> deadlineQueues;
  kj::Vector<kj::Function<void()>> bufferWaiters;
  kj::Vector<kj::Own<Op>> orphans;  // small; scanned when an orphan completes
  AutoCloseFd wakeFd;
  kj::Own<Op> wakeOp;
  mutable bool woken = false;
  uint16_t nextGeneration = 1;
  uint64_t staleCount = 0;
  uint64_t splicedCount = 0;
  uint64_t submittedCount = 0;
  bool inTurn = false;
};

// Describes why io_uring cannot be used here, or null if it can (a cheap probe: set up and
// tear down a tiny ring). Used by `sandstorm start` to fail early with advice.
kj::Maybe<kj::String> probeIoUring();

}  // namespace ss::reactor
