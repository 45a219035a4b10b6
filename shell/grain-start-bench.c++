// grain-start-bench <unpacked-package-dir> <bridge> <count> [path]
//
// Cold start of one grain, as the daemon does it: from a stopped grain to the first byte of the
// app's first response (sandbox spawn, bridge start, app start, port probe, Cap'n Proto session,
// the HTTP round trip inside), `count` times, stopping the grain (and waiting until its
// processes are gone) between starts. Prints one JSON line: {"ms": [...], "median", "p90"}.
// Used by perf/suites/coldstart.py; not a test (no timing assertions).
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include <capnp/serialize.h>
#include <kj/async.h>
#include <kj/debug.h>
#include <kj/main.h>

#include "base/clock.h"
#include "base/fd.h"
#include "reactor/reactor.h"
#include "rpc/package.capnp.h"
#include "shell/grain-host.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s <unpacked-package-dir> <bridge> <count> [path]\n", argv[0]);
    return 2;
  }
  kj::StringPtr packageDir = argv[1];
  int count = atoi(argv[3]);
  kj::StringPtr path = argc > 4 ? argv[4] : "";

  auto bytes = ss::readFile(kj::str(packageDir, "/sandstorm-manifest"));
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  memcpy(words.begin(), bytes.begin(), words.asBytes().size());
  capnp::FlatArrayMessageReader reader(words);
  auto command = reader.getRoot<ss::spk::Manifest>().getContinueCommand();

  char dirTemplate[] = "/tmp/grain-start-bench-XXXXXX";
  KJ_REQUIRE(mkdtemp(dirTemplate) != nullptr);
  KJ_SYSCALL(chmod(dirTemplate, 0711));
  ss::shell::GrainSpec spec;
  spec.grainId = kj::str("start-bench-", getpid());
  spec.packageDir = kj::heapString(packageDir);
  spec.varDir = kj::str(dirTemplate, "/var");
  spec.logPath = kj::str(dirTemplate, "/log");
  spec.argv = KJ_MAP(a, command.getArgv()) { return kj::heapString(a); };
  spec.env = KJ_MAP(e, command.getEnviron()) { return kj::str(e.getKey(), "=", e.getValue()); };

  ss::reactor::Reactor reactor;
  kj::EventLoop loop(reactor);
  kj::WaitScope waitScope(loop);
  ss::shell::GrainHostOptions options;
  options.bridgePath = kj::str(argv[2]);
  options.idleTimeoutMs = 3'600'000;
  ss::shell::GrainHost host(reactor, kj::mv(options));

  std::vector<double> ms;
  for (int i = 0; i < count; i++) {
    uint64_t t0 = ss::monotonicNowNs();
    auto lease = host.acquire(spec).wait(waitScope);
    auto session = lease->webSession().wait(waitScope);
    auto call = session.getRequest();
    call.setPath(path);
    call.initContext();
    auto response = call.send().wait(waitScope);
    uint64_t t1 = ss::monotonicNowNs();
    KJ_REQUIRE(response.isContent() && response.getContent().getStatusCode() == 200,
               "the app did not answer 200", kj::str(lease->logTail(2000)));
    ms.push_back((t1 - t0) / 1e6);
    lease = nullptr;
    host.stop(spec.grainId);
    // Wait until the stop has fully happened (processes reaped, cgroup removed).
    while (host.status(spec.grainId).running) {
      reactor.timer().afterDelay(1 * kj::MILLISECONDS).wait(waitScope);
    }
    reactor.timer().afterDelay(5 * kj::MILLISECONDS).wait(waitScope);
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  printf("{\"ms\": [");
  for (size_t i = 0; i < ms.size(); i++) printf("%s%.3f", i ? ", " : "", ms[i]);
  printf("], \"median\": %.3f, \"p90\": %.3f, \"min\": %.3f, \"max\": %.3f}\n",
         sorted[sorted.size() / 2], sorted[std::min(sorted.size() - 1, sorted.size() * 9 / 10)],
         sorted.front(), sorted.back());
  fflush(stdout);
  return 0;
}
