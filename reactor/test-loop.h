// Test helpers: a reactor with KJ's event loop on top, and a bounded "run until" for tests.
#pragma once

#include <kj/async.h>
#include <kj/debug.h>
#include <kj/function.h>

#include "reactor/reactor.h"
#include "tests/test-support.h"

namespace ss::reactor::test {

struct TestLoop {
  explicit TestLoop(ReactorOptions options = ReactorOptions()): reactor(options) {}
  Reactor reactor;
  kj::EventLoop loop{reactor};
  kj::WaitScope waitScope{loop};

  // Runs the loop until `done()` is true; fails the test after `timeoutMs`.
  void runUntil(kj::Function<bool()> done, uint64_t timeoutMs = 5000) {
    MonoMs deadline = monotonicNowMs() + timeoutMs;
    while (!done()) {
      REQUIRE(monotonicNowMs() < deadline);
      reactor.timer().afterDelay(5 * kj::MILLISECONDS).wait(waitScope);
    }
  }

  // Runs the loop for `ms` milliseconds (to show that something does *not* happen).
  void runFor(uint64_t ms) { reactor.timer().afterDelay(ms * kj::MILLISECONDS).wait(waitScope); }

  template <typename T>
  T wait(kj::Promise<T>&& promise, uint64_t timeoutMs = 5000) {
    return promise
        .exclusiveJoin(reactor.timer().afterDelay(timeoutMs * kj::MILLISECONDS).then([]() -> T {
          KJ_FAIL_REQUIRE("test timed out waiting for a promise");
        }))
        .wait(waitScope);
  }
};

}  // namespace ss::reactor::test
