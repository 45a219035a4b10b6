#include "reactor/reactor.h"

#include <errno.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kj/debug.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/syscall.h"

namespace ss::reactor {

namespace {

constexpr uint64_t POINTER_MASK = (uint64_t(1) << 48) - 1;
constexpr uint16_t RECV_BUFFER_GROUP = 0;

kj::TimePoint toTimePoint(MonoNs ns) {
  return kj::origin<kj::TimePoint>() + ns * kj::NANOSECONDS;
}

kj::String explainSetupFailure(int error) {
  switch (error) {
    case EPERM:
      return kj::str(
          "io_uring is not permitted for this process (io_uring_setup: EPERM). Either the "
          "sysctl kernel.io_uring_disabled is 2 (check: sysctl kernel.io_uring_disabled; fix: "
          "sysctl -w kernel.io_uring_disabled=0), or it is 1 and this user is not in "
          "kernel.io_uring_group, or a seccomp profile blocks io_uring_setup (Docker's default "
          "profile does: run the container with a profile that allows io_uring).");
    case ENOSYS:
      return kj::str(
          "this kernel has no io_uring (io_uring_setup: ENOSYS). Sandstorm needs Linux 6.0 or "
          "newer built with CONFIG_IO_URING, or a seccomp profile is hiding the syscall.");
    case ENOMEM:
      return kj::str(
          "io_uring_setup failed with ENOMEM: the locked-memory limit is too low for the "
          "ring (raise `ulimit -l`, or LimitMEMLOCK= in the systemd unit).");
    default:
      return kj::str("io_uring_setup failed: ", strerror(error));
  }
}

// Sets up `ring`, preferring the flags that make a single-threaded server fastest and falling
// back when the kernel predates them. Returns -errno on failure.
int setupRing(io_uring& ring, const ReactorOptions& options, Features& feats) {
  const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
  const unsigned tries[] = {
      base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,  // 6.1+
      base,                                                             // 5.19+
      IORING_SETUP_CQSIZE,                                              // anything older
  };
  int res = -EINVAL;
  for (unsigned flags: tries) {
    io_uring_params params{};
    params.flags = flags;
    params.cq_entries = options.cqEntries;
    res = io_uring_queue_init_params(options.sqEntries, &ring, &params);
    if (res == 0) {
      feats.deferTaskrun = (flags & IORING_SETUP_DEFER_TASKRUN) != 0;
      feats.singleIssuer = (flags & IORING_SETUP_SINGLE_ISSUER) != 0;
      if ((params.features & IORING_FEAT_NODROP) == 0) {
        io_uring_queue_exit(&ring);
        return -ENOSYS;  // pre-5.5 kernel: CQEs could be dropped under load
      }
      return 0;
    }
    if (res != -EINVAL) return res;  // EPERM/ENOSYS/ENOMEM: no fallback will help
  }
  return res;
}

}  // namespace

Op::~Op() noexcept(false) {
  if (outstanding != 0) {
    // The kernel may still write into this op's memory. This is a bug in the owner; say so
    // loudly (ASan will report the use after free if it happens).
    KJ_LOG(ERROR, "io_uring op destroyed while in flight", outstanding);
  }
}

ReactorOptions::ReactorOptions()
    : sqEntries(limits::RING_SQ_ENTRIES),
      cqEntries(limits::RING_CQ_ENTRIES),
      recvBufferCount(limits::RECV_BUFFER_COUNT),
      recvBufferSize(limits::RECV_BUFFER_SIZE) {}

// Drains the wake eventfd; multishot poll keeps it armed.
class Reactor::WakeOp final: public Op {
public:
  WakeOp(Reactor& reactor): reactor(reactor) {}

protected:
  void onComplete(int32_t res, uint32_t flags) override {
    uint64_t value;
    ssize_t n = ::read(reactor.wakeFd, &value, sizeof(value));
    (void)n;  // EAGAIN if already drained: fine
    reactor.woken = true;
    if ((flags & IORING_CQE_F_MORE) == 0 && res >= 0) {
      reactor.preparePoll(*this, reactor.wakeFd, POLLIN, true);
    }
  }

private:
  Reactor& reactor;
};

Reactor::Reactor(ReactorOptions options)
    : nowMs(monotonicNowMs()), kjTimer(toTimePoint(monotonicNowNs())) {
  int res = setupRing(ring, options, feats);
  if (res < 0) {
    KJ_FAIL_REQUIRE(explainSetupFailure(-res));
  }
  KJ_ON_SCOPE_FAILURE(io_uring_queue_exit(&ring));

  // Probe the opcodes we rely on; fail with the kernel feature's name rather than a later EINVAL.
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  KJ_REQUIRE(probe != nullptr, "io_uring opcode probe failed; Sandstorm needs Linux 6.0+");
  struct { int opcode; const char* name; } needed[] = {
      {IORING_OP_ACCEPT, "accept"}, {IORING_OP_RECV, "recv"}, {IORING_OP_SEND, "send"},
      {IORING_OP_POLL_ADD, "poll"}, {IORING_OP_ASYNC_CANCEL, "cancel"},
      {IORING_OP_CLOSE, "close"}, {IORING_OP_CONNECT, "connect"},
  };
  for (auto& op: needed) {
    if (!io_uring_opcode_supported(probe, op.opcode)) {
      io_uring_free_probe(probe);
      KJ_FAIL_REQUIRE("this kernel's io_uring lacks an operation Sandstorm needs (Linux 6.0+ "
                      "required)", op.name);
    }
  }
  io_uring_free_probe(probe);

  recvBuffers = kj::heap<BufferRing>(ring, RECV_BUFFER_GROUP, options.recvBufferCount,
                                     options.recvBufferSize);
  // Multishot accept (5.19) and recv (6.0) have no opcode of their own; we trust the buffer ring
  // registration above (5.19) and the recv flag is checked functionally: a kernel without it
  // fails the first recv with -EINVAL, which the connection reports.
  feats.acceptMultishot = true;
  feats.recvMultishot = true;

  wakeFd = makeEventFd();
  wakeOp = kj::heap<WakeOp>(*this);
  preparePoll(*wakeOp, wakeFd, POLLIN, true);
}

Reactor::~Reactor() noexcept(false) {
  // Tear the ring down first: the kernel cancels whatever is still in flight, so the ops we
  // free below are no longer referenced by it.
  io_uring_queue_exit(&ring);
  for (auto& op: orphans) op->outstanding = 0;
  orphans.clear();
  wakeOp->outstanding = 0;
  recvBuffers = nullptr;  // unregistering would need the ring; munmap is enough now
}

io_uring_sqe& Reactor::prepare(Op& op) {
  KJ_REQUIRE(op.outstanding == 0, "op submitted again while still in flight");
  KJ_REQUIRE(!op.orphaned);
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {
    // SQ full: hand the batch to the kernel and take a fresh slot (echo-server's get_sqe()).
    SS_CHECK_NEG(io_uring_submit(&ring));
    sqe = io_uring_get_sqe(&ring);
    KJ_ASSERT(sqe != nullptr, "no SQE after submit");
  }
  memset(sqe, 0, sizeof(*sqe));
  op.generation = nextGeneration++;
  if (nextGeneration == 0) nextGeneration = 1;
  op.outstanding = 1;
  sqe->user_data = reinterpret_cast<uint64_t>(&op) | (uint64_t(op.generation) << 48);
  submittedCount++;
  return *sqe;
}

void Reactor::prepareAccept(Op& op, int listenFd) {
  io_uring_sqe& sqe = prepare(op);
  uint64_t userData = sqe.user_data;
  io_uring_prep_multishot_accept(&sqe, listenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  sqe.user_data = userData;
}

void Reactor::prepareRecv(Op& op, int fd) {
  io_uring_sqe& sqe = prepare(op);
  uint64_t userData = sqe.user_data;
  io_uring_prep_recv_multishot(&sqe, fd, nullptr, 0, 0);
  sqe.flags |= IOSQE_BUFFER_SELECT;
  sqe.buf_group = recvBuffers->group();
  sqe.user_data = userData;
}

void Reactor::prepareSend(Op& op, int fd, const void* data, size_t size) {
  io_uring_sqe& sqe = prepare(op);
  uint64_t userData = sqe.user_data;
  io_uring_prep_send(&sqe, fd, data, size, MSG_NOSIGNAL);
  sqe.user_data = userData;
}

void Reactor::prepareConnect(Op& op, int fd, const sockaddr* addr, socklen_t length) {
  io_uring_sqe& sqe = prepare(op);
  uint64_t userData = sqe.user_data;
  io_uring_prep_connect(&sqe, fd, addr, length);
  sqe.user_data = userData;
}

void Reactor::preparePoll(Op& op, int fd, unsigned events, bool multishot) {
  io_uring_sqe& sqe = prepare(op);
  uint64_t userData = sqe.user_data;
  if (multishot) {
    io_uring_prep_poll_multishot(&sqe, fd, events);
  } else {
    io_uring_prep_poll_add(&sqe, fd, events);
  }
  sqe.user_data = userData;
}

void Reactor::prepareClose(Op& op, int fd) {
  io_uring_sqe& sqe = prepare(op);
  uint64_t userData = sqe.user_data;
  io_uring_prep_close(&sqe, fd);
  sqe.user_data = userData;
}

void Reactor::cancel(Op& op) {
  if (op.outstanding == 0) return;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {
    SS_CHECK_NEG(io_uring_submit(&ring));
    sqe = io_uring_get_sqe(&ring);
    KJ_ASSERT(sqe != nullptr);
  }
  uint64_t target = reinterpret_cast<uint64_t>(&op) | (uint64_t(op.generation) << 48);
  io_uring_prep_cancel64(sqe, target, 0);
  sqe->user_data = 0;  // the cancel's own CQE is not interesting: the target's CQE tells all
}

void Reactor::orphan(kj::Own<Op> op) {
  if (op->outstanding == 0) return;  // nothing in flight: free now
  cancel(*op);
  op->orphaned = true;
  orphans.add(kj::mv(op));
}

void Reactor::whenBuffersAvailable(kj::Function<void()> rearm) {
  bufferWaiters.add(kj::mv(rearm));
}

void Reactor::addDeadlineQueue(DeadlineQueue& queue) { deadlineQueues.add(&queue); }

void Reactor::removeDeadlineQueue(DeadlineQueue& queue) {
  for (size_t i = 0; i < deadlineQueues.size(); i++) {
    if (deadlineQueues[i] == &queue) {
      deadlineQueues[i] = deadlineQueues.back();
      deadlineQueues.removeLast();
      return;
    }
  }
}

kj::Maybe<MonoNs> Reactor::nextTimeoutNs() {
  kj::Maybe<MonoNs> result;
  auto consider = [&](MonoNs when) {
    KJ_IF_MAYBE(r, result) {
      if (when < *r) result = when;
    } else {
      result = when;
    }
  };
  for (auto* queue: deadlineQueues) {
    KJ_IF_MAYBE(when, queue->nextExpiry()) consider(*when * 1'000'000);
  }
  KJ_IF_MAYBE(next, kjTimer.nextEvent()) {
    consider((*next - kj::origin<kj::TimePoint>()) / kj::NANOSECONDS);
  }
  return result;
}

void Reactor::dispatch(io_uring_cqe& cqe) {
  if (cqe.user_data == 0) return;  // a cancel's own completion
  Op* op = reinterpret_cast<Op*>(cqe.user_data & POINTER_MASK);
  uint16_t generation = cqe.user_data >> 48;
  uint32_t flags = cqe.flags;
  if (op->generation != generation || op->outstanding == 0) {
    staleCount++;
    KJ_LOG(ERROR, "stale io_uring completion dropped", generation, op->generation, cqe.res);
    return;
  }
  bool last = (flags & IORING_CQE_F_MORE) == 0;
  if (last) op->outstanding = 0;
  if (op->orphaned) {
    if (flags & IORING_CQE_F_BUFFER) {
      uint16_t id = flags >> IORING_CQE_BUFFER_SHIFT;
      recvBuffers->take(id, 0);
      recvBuffers->recycle(id);
    }
    if (last) {
      for (size_t i = 0; i < orphans.size(); i++) {
        if (orphans[i].get() == op) {
          op->orphaned = false;
          kj::Own<Op> dead = kj::mv(orphans[i]);
          orphans[i] = kj::mv(orphans.back());
          orphans.removeLast();
          break;
        }
      }
    }
    return;
  }
  op->onComplete(cqe.res, flags);
}

void Reactor::turn(bool block) {
  KJ_REQUIRE(!inTurn, "reactor re-entered from a completion callback");
  inTurn = true;
  KJ_DEFER(inTurn = false);

  int res;
  bool haveCqe = io_uring_cq_ready(&ring) > 0;
  if (block && !haveCqe) {
    io_uring_cqe* cqe = nullptr;
    KJ_IF_MAYBE(deadline, nextTimeoutNs()) {
      MonoNs nowNs = monotonicNowNs();
      MonoNs delta = *deadline > nowNs ? *deadline - nowNs : 0;
      if (delta == 0) {
        res = feats.deferTaskrun ? io_uring_submit_and_get_events(&ring) : io_uring_submit(&ring);
      } else {
        __kernel_timespec ts{};
        ts.tv_sec = delta / 1'000'000'000;
        ts.tv_nsec = delta % 1'000'000'000;
        res = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
      }
    } else {
      res = io_uring_submit_and_wait(&ring, 1);
    }
  } else {
    res = feats.deferTaskrun ? io_uring_submit_and_get_events(&ring) : io_uring_submit(&ring);
  }
  if (res < 0 && res != -ETIME && res != -EINTR && res != -EBUSY && res != -EAGAIN) {
    SS_CHECK_NEG(res, "io_uring_enter");
  }

  // We may have slept: callbacks below arm deadlines relative to now(), so refresh it first.
  nowMs = monotonicNowMs();

  // Copy completions out in batches, release the CQ slots, then run callbacks.
  io_uring_cqe copies[limits::CQE_BATCH];
  for (;;) {
    io_uring_cqe* batch[limits::CQE_BATCH];
    unsigned n = io_uring_peek_batch_cqe(&ring, batch, limits::CQE_BATCH);
    if (n == 0) break;
    for (unsigned i = 0; i < n; i++) copies[i] = *batch[i];
    io_uring_cq_advance(&ring, n);
    for (unsigned i = 0; i < n; i++) dispatch(copies[i]);
    if (n < limits::CQE_BATCH) break;
  }

  MonoNs nowNs = monotonicNowNs();
  nowMs = nowNs / 1'000'000;
  kjTimer.advanceTo(toTimePoint(nowNs));
  for (size_t i = 0; i < deadlineQueues.size(); i++) deadlineQueues[i]->expire(nowMs);

  if (!bufferWaiters.empty() && recvBuffers->held() < recvBuffers->count()) {
    auto waiters = kj::mv(bufferWaiters);
    bufferWaiters = kj::Vector<kj::Function<void()>>();
    for (auto& waiter: waiters) waiter();
  }
}

bool Reactor::wait() {
  turn(true);
  bool result = woken;
  woken = false;
  return result;
}

bool Reactor::poll() {
  turn(false);
  bool result = woken;
  woken = false;
  return result;
}

void Reactor::wake() const {
  uint64_t one = 1;
  ssize_t n = ::write(wakeFd, &one, sizeof(one));
  (void)n;  // EAGAIN only if the counter would overflow: already woken
}

// ---- Promise-style helpers ----------------------------------------------------------------

namespace {

class PollPromiseOp final: public Op {
public:
  explicit PollPromiseOp(kj::PromiseFulfiller<void>& fulfiller): fulfiller(fulfiller) {}

protected:
  void onComplete(int32_t res, uint32_t flags) override {
    if (res < 0) {
      fulfiller.reject(KJ_EXCEPTION(FAILED, "poll failed", errnoName(res)));
    } else {
      fulfiller.fulfill();
    }
  }

private:
  kj::PromiseFulfiller<void>& fulfiller;
};

class PollAdapter {
public:
  PollAdapter(kj::PromiseFulfiller<void>& fulfiller, Reactor& reactor, int fd, unsigned events)
      : reactor(reactor), op(kj::heap<PollPromiseOp>(fulfiller)) {
    reactor.preparePoll(*op, fd, events);
  }
  ~PollAdapter() noexcept(false) {
    // Destroying the promise cancels the poll; the reactor frees the op after its last CQE.
    if (op->inFlight()) reactor.orphan(kj::mv(op));
  }

private:
  Reactor& reactor;
  kj::Own<PollPromiseOp> op;
};

}  // namespace

kj::Promise<void> Reactor::whenReadable(int fd) {
  return kj::newAdaptedPromise<void, PollAdapter>(*this, fd, POLLIN | POLLRDHUP);
}

kj::Promise<void> Reactor::whenWritable(int fd) {
  return kj::newAdaptedPromise<void, PollAdapter>(*this, fd, POLLOUT);
}

kj::Promise<void> Reactor::whenHungUp(int fd) {
  return kj::newAdaptedPromise<void, PollAdapter>(*this, fd, 0u);
}

kj::Promise<int> Reactor::onChildExit(pid_t pid) {
  int fd;
  KJ_SYSCALL(fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0)), pid);
  AutoCloseFd pidfd(fd);
  // A pidfd becomes readable when the process exits (Linux 5.3); waitid(P_PIDFD) reaps it
  // without the pid-reuse race of waitpid on a number.
  auto promise = whenReadable(fd);
  return promise.then([pidfd = kj::mv(pidfd)]() {
    siginfo_t info{};
    KJ_SYSCALL(waitid(static_cast<idtype_t>(P_PIDFD), pidfd.get(), &info, WEXITED));
    int status = info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0)
                                            : info.si_status;  // killed: the signal number
    return status;
  });
}

kj::Maybe<kj::String> probeIoUring() {
  io_uring ring;
  io_uring_params params{};
  int res = io_uring_queue_init_params(4, &ring, &params);
  if (res < 0) return explainSetupFailure(-res);
  io_uring_queue_exit(&ring);
  return nullptr;
}

}  // namespace ss::reactor
