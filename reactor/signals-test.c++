#include "reactor/signals.h"

#include <signal.h>

#include <vector>

#include "reactor/test-loop.h"

TEST_CASE("signals arrive as loop events through a signalfd", "[reactor]") {
  ss::reactor::test::TestLoop t;
  std::vector<int> seen;
  {
    ss::reactor::SignalWatcher watcher(t.reactor, {SIGUSR1, SIGUSR2},
                                       [&](int signo) { seen.push_back(signo); });
    raise(SIGUSR1);  // blocked, so it waits in the signalfd instead of killing us
    raise(SIGUSR2);
    t.runUntil([&]() { return seen.size() == 2; });
    CHECK(seen == std::vector<int>{SIGUSR1, SIGUSR2});
  }
  // The mask is restored: SIGUSR1 is deliverable again (ignore it to prove it is not blocked).
  sigset_t current;
  sigprocmask(SIG_SETMASK, nullptr, &current);
  CHECK(!sigismember(&current, SIGUSR1));
  t.runUntil([&]() { return t.reactor.orphanCount() == 0; });
}
