// grain-start-bench <unpacked-package-dir> <bridge> <count> [path]
// grain-start-bench --many <unpacked-package-dir> <bridge> <grains>
//
// Cold start of one grain, as the daemon does it: from a stopped grain to the first byte of the
// app's first response (sandbox spawn, bridge start, app start, port probe, Cap'n Proto session,
// the HTTP round trip inside), `count` times, stopping the grain (and waiting until its
// processes are gone) between starts. Prints one JSON line: {"ms": [...], "median", "p90"}.
// Used by perf/suites/coldstart.py; not a test (no timing assertions).
#include <dirent.h>
#include <stdio.h>
#include <string.h>
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

namespace {

// Proportional set size of every process in cgroups whose path ends with "/<prefix><n>".
uint64_t pssOfGrains(kj::StringPtr prefix, size_t* processes) {
  uint64_t total = 0;
  *processes = 0;
  DIR* proc = opendir("/proc");
  while (dirent* e = readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    auto cg = kj::str("/proc/", e->d_name, "/cgroup");
    FILE* f = fopen(cg.cStr(), "r");
    if (f == nullptr) continue;
    char line[1024];
    bool match = false;
    while (!match && fgets(line, sizeof(line), f) != nullptr) {
      match = strstr(line, kj::str("/", prefix).cStr()) != nullptr;
    }
    fclose(f);
    if (!match) continue;
    (*processes)++;
    auto rollup = kj::str("/proc/", e->d_name, "/smaps_rollup");
    f = fopen(rollup.cStr(), "r");
    if (f == nullptr) continue;
    while (fgets(line, sizeof(line), f) != nullptr) {
      unsigned long kb;
      if (sscanf(line, "Pss: %lu kB", &kb) == 1) total += kb * 1024;
    }
    fclose(f);
  }
  closedir(proc);
  return total;
}

int many(kj::StringPtr packageDir, kj::StringPtr bridge, int count) {
  auto bytes = ss::readFile(kj::str(packageDir, "/sandstorm-manifest"));
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  memcpy(words.begin(), bytes.begin(), words.asBytes().size());
  capnp::FlatArrayMessageReader reader(words);
  auto command = reader.getRoot<ss::spk::Manifest>().getContinueCommand();
  char dirTemplate[] = "/tmp/grain-many-bench-XXXXXX";
  KJ_REQUIRE(mkdtemp(dirTemplate) != nullptr);
  KJ_SYSCALL(chmod(dirTemplate, 0711));
  auto prefix = kj::str("many-bench-", getpid(), "-");
  kj::Vector<ss::shell::GrainSpec> specs;
  for (int i = 0; i < count; i++) {
    ss::shell::GrainSpec spec;
    spec.grainId = kj::str(prefix, i);
    spec.packageDir = kj::heapString(packageDir);
    spec.varDir = kj::str(dirTemplate, "/", i);
    spec.logPath = kj::str(dirTemplate, "/", i, ".log");
    spec.argv = KJ_MAP(a, command.getArgv()) { return kj::heapString(a); };
    spec.env = KJ_MAP(e, command.getEnviron()) { return kj::str(e.getKey(), "=", e.getValue()); };
    specs.add(kj::mv(spec));
  }
  ss::reactor::Reactor reactor;
  kj::EventLoop loop(reactor);
  kj::WaitScope waitScope(loop);
  ss::shell::GrainHostOptions options;
  options.bridgePath = kj::str(bridge);
  options.idleTimeoutMs = 3'600'000;
  ss::shell::GrainHost host(reactor, kj::mv(options));
  uint64_t t0 = ss::monotonicNowNs();
  kj::Vector<kj::Promise<void>> all;
  for (auto& spec: specs) {
    all.add(host.acquire(spec).then([](kj::Own<ss::shell::GrainHost::Lease> lease) {
      auto& l = *lease;
      return l.webSession().then([](ss::rpc::WebSession::Client session) {
        auto call = session.getRequest();
        call.initContext();
        return call.send().ignoreResult();
      }).attach(kj::mv(lease));
    }));
  }
  kj::joinPromises(all.releaseAsArray()).wait(waitScope);
  double startMs = (ss::monotonicNowNs() - t0) / 1e6;
  reactor.timer().afterDelay(500 * kj::MILLISECONDS).wait(waitScope);
  size_t processes = 0;
  uint64_t pss = pssOfGrains(prefix, &processes);
  for (auto& spec: specs) host.stop(spec.grainId);
  for (int i = 0; i < 200 && host.runningCount() > 0; i++) {
    reactor.timer().afterDelay(10 * kj::MILLISECONDS).wait(waitScope);
  }
  reactor.timer().afterDelay(200 * kj::MILLISECONDS).wait(waitScope);
  size_t after = 0;
  pssOfGrains(prefix, &after);
  printf("{\"grains\": %d, \"start_all_ms\": %.1f, \"processes\": %zu, \"pss_bytes\": %llu, "
         "\"processes_after_stop\": %zu}\n", count, startMs, processes,
         (unsigned long long)pss, after);
  fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && kj::StringPtr(argv[1]) == "--many") return many(argv[2], argv[3], atoi(argv[4]));
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
