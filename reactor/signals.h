// Signals through the ring: the listed signals are blocked for normal delivery and read from a
// signalfd instead, so SIGTERM/SIGINT become ordinary events on the loop (no async-signal-safety
// puzzles, no EINTR surprises). Restores the previous signal mask when destroyed.
//
// Children inherit a blocked mask across fork+exec: anything that spawns processes must reset
// the mask in the child (sandbox/ does).
#pragma once

#include <signal.h>

#include <initializer_list>

#include <kj/function.h>

#include "reactor/reactor.h"

namespace ss::reactor {

class SignalWatcher {
public:
  SignalWatcher(Reactor& reactor, std::initializer_list<int> signals,
                kj::Function<void(int signo)> onSignal);
  ~SignalWatcher() noexcept(false);
  KJ_DISALLOW_COPY(SignalWatcher);

private:
  class ReadOp;
  void onReadable(int32_t res, uint32_t flags);

  Reactor& reactor;
  kj::Function<void(int)> onSignal;
  sigset_t previousMask;
  AutoCloseFd fd;
  kj::Own<Op> op;
};

}  // namespace ss::reactor
