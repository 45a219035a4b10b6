#include "reactor/deadline.h"

#include <poll.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "base/fd.h"

#include "reactor/test-loop.h"

namespace {
struct Recorder final: public ss::reactor::Deadline::Handler {
  explicit Recorder(std::vector<int>& log, int id): log(log), id(id) {}
  void onDeadline() override { log.push_back(id); }
  std::vector<int>& log;
  int id;
  ss::reactor::Deadline node{*this};
};
}  // namespace

TEST_CASE("deadline queue fires in arm order, honours disarm and re-arm", "[reactor]") {
  std::vector<int> log;
  ss::reactor::DeadlineQueue queue(100);
  Recorder a(log, 1), b(log, 2), c(log, 3);
  queue.arm(a.node, 1000);
  queue.arm(b.node, 1010);
  queue.arm(c.node, 1020);
  CHECK(queue.size() == 3);
  CHECK(queue.nextExpiry() == kj::Maybe<ss::MonoMs>(1100));

  b.node.disarm();
  queue.arm(a.node, 1050);  // re-arm moves a to the back
  queue.expire(1099);
  CHECK(log.empty());
  queue.expire(1120);
  CHECK(log == std::vector<int>{3});
  queue.expire(1200);
  CHECK(log == std::vector<int>{3, 1});
  CHECK(queue.size() == 0);
  CHECK(!a.node.armed());
}

TEST_CASE("the reactor sleeps until the earliest deadline and fires it", "[reactor]") {
  ss::reactor::test::TestLoop t;
  std::vector<int> log;
  ss::reactor::DeadlineQueue queue(40);
  t.reactor.addDeadlineQueue(queue);
  Recorder a(log, 1);
  auto start = t.reactor.now();
  queue.arm(a.node, start);
  // Nothing else is pending: wait() must return by itself when the deadline passes.
  while (log.empty()) {
    REQUIRE(ss::monotonicNowMs() - start < 2000);
    t.reactor.wait();
  }
  CHECK(ss::monotonicNowMs() - start >= 40);
  t.reactor.removeDeadlineQueue(queue);
}

TEST_CASE("now() is fresh in callbacks that run after a long sleep", "[reactor]") {
  // Regression: now() used to be refreshed only after callbacks ran, so a callback that woke
  // the loop after a long sleep armed its deadline from the time the sleep began and the
  // deadline fired early by the length of the sleep.
  ss::reactor::test::TestLoop t;
  std::vector<int> log;
  ss::reactor::DeadlineQueue queue(100);
  t.reactor.addDeadlineQueue(queue);
  Recorder a(log, 1);
  auto pipe = ss::makePipe();
  struct Arm {
    void onReadable(int32_t, uint32_t) {
      armedAtMs = ss::monotonicNowMs();
      queue.arm(recorder.node, reactor.now());
    }
    ss::reactor::Reactor& reactor;
    ss::reactor::DeadlineQueue& queue;
    Recorder& recorder;
    ss::MonoMs armedAtMs = 0;
  } arm{t.reactor, queue, a};
  ss::reactor::OpTo<Arm, &Arm::onReadable> poll(arm);
  t.reactor.preparePoll(poll, pipe.first, POLLIN);
  std::thread writer([&]() {
    usleep(300 * 1000);
    REQUIRE(write(pipe.second, "x", 1) == 1);
  });
  while (log.empty()) t.reactor.wait();  // sleeps ~300 ms in one wait, then the deadline
  writer.join();
  CHECK(ss::monotonicNowMs() - arm.armedAtMs >= 99);
  t.reactor.removeDeadlineQueue(queue);
}
