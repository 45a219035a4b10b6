#include "reactor/signals.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/syscall.h"

namespace ss::reactor {

class SignalWatcher::ReadOp final: public Op {
public:
  explicit ReadOp(SignalWatcher& watcher): watcher(watcher) {}

protected:
  void onComplete(int32_t res, uint32_t flags) override { watcher.onReadable(res, flags); }

private:
  SignalWatcher& watcher;
};

SignalWatcher::SignalWatcher(Reactor& reactor, std::initializer_list<int> signals,
                             kj::Function<void(int)> onSignal)
    : reactor(reactor), onSignal(kj::mv(onSignal)) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int signo: signals) sigaddset(&mask, signo);
  KJ_SYSCALL(sigprocmask(SIG_BLOCK, &mask, &previousMask));
  int raw;
  KJ_SYSCALL(raw = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  fd = AutoCloseFd(raw);
  op = kj::heap<ReadOp>(*this);
  reactor.preparePoll(*op, fd, POLLIN, true);
}

SignalWatcher::~SignalWatcher() noexcept(false) {
  reactor.orphan(kj::mv(op));
  sigprocmask(SIG_SETMASK, &previousMask, nullptr);
}

void SignalWatcher::onReadable(int32_t res, uint32_t flags) {
  // Read every pending signal first, then deliver: a callback may destroy this watcher.
  int pending[16];
  size_t count = 0;
  for (;;) {
    signalfd_siginfo info;
    ssize_t n = ::read(fd, &info, sizeof(info));
    if (n != sizeof(info)) break;  // EAGAIN: drained
    if (count < kj::size(pending)) pending[count++] = static_cast<int>(info.ssi_signo);
  }
  if ((flags & IORING_CQE_F_MORE) == 0 && res >= 0) {
    reactor.preparePoll(*op, fd, POLLIN, true);
  }
  for (size_t i = 0; i < count; i++) onSignal(pending[i]);
}

}  // namespace ss::reactor
