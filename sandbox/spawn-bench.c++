// sandbox-spawn-bench: time from "start the grain" to "its trivial static program has exited",
// median and p90 over N runs, for
//   fork/exec      posix_spawn + wait of the same binary, no sandbox (the floor)
//   ours           spawnSandboxed() + wait, without cgroups
//   ours+cgroup    the same with a per-grain cgroup created, limited and removed each time
//   bwrap          bwrap --unshare-all with equivalent mounts, if installed
// and the ratio ours+cgroup / bwrap. Run as root: `sandbox-spawn-bench [N]` (default 200).
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <vector>

#include <kj/debug.h>
#include <kj/main.h>

#include "base/fd.h"
#include "sandbox/limits.h"
#include "sandbox/spawn.h"
#include "sandbox/test-package.h"

extern char** environ;

namespace ss::sandbox {
namespace {

double nowMs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct Stats {
  double median, p90;
};

Stats measure(int runs, const std::function<void()>& once) {
  once();  // warm-up (page cache, first cgroup mkdir)
  std::vector<double> times;
  for (int i = 0; i < runs; i++) {
    double start = nowMs();
    once();
    times.push_back(nowMs() - start);
  }
  std::sort(times.begin(), times.end());
  return Stats{times[times.size() / 2], times[times.size() * 9 / 10]};
}

void runAndWait(const char* path, const char* const* argv) {
  pid_t pid;
  int rc = posix_spawn(&pid, path, nullptr, nullptr, const_cast<char**>(argv), environ);
  KJ_REQUIRE(rc == 0, "posix_spawn", path, rc);
  int status;
  KJ_SYSCALL(waitpid(pid, &status, 0));
  KJ_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0, "benchmark child failed", path,
             status);
}

const char* findBwrap() {
  for (auto p : {"/usr/bin/bwrap", "/usr/local/bin/bwrap"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return nullptr;
}

void print(const char* name, Stats s) {
  printf("%-14s median %7.3f ms   p90 %7.3f ms\n", name, s.median, s.p90);
}

int run(int runs) {
  test::TestGrain grain(SANDBOX_TRUE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  auto full = SandboxHost::detect();
  SandboxHost bare(compileGrainFilter(), nullptr, geteuid() == 0, kj::str("benchmark"));
  auto config = grain.config(test::uniqueGrainId("bench"));
  config.requireCgroup = false;
  auto plan = planFor(config);
  auto sock = makeSocketPair();
  auto program = kj::str(grain.packageDir(), "/program");

  printf("sandbox spawn-to-exit of a static no-op, %d runs each\n", runs);
  const char* forkArgv[] = {program.cStr(), nullptr};
  print("fork/exec", measure(runs, [&] { runAndWait(program.cStr(), forkArgv); }));
  auto ours = measure(runs, [&] { spawnSandboxed(bare, plan, sock.second.get()).wait(); });
  print("ours", ours);
  Stats withCgroup = ours;
  if (full.cgroups() != nullptr) {
    config.requireCgroup = true;
    auto cgPlan = planFor(config);
    withCgroup = measure(runs, [&] { spawnSandboxed(full, cgPlan, sock.second.get()).wait(); });
    print("ours+cgroup", withCgroup);
  } else {
    printf("ours+cgroup    skipped: %s\n", full.noCgroupReason().cStr());
  }
  if (auto bwrap = findBwrap()) {
    auto pkg = grain.packageDir();
    auto var = grain.varDir();
    // bwrap binds onto mount points inside the read-only package, so give it some (ours
    // creates its own in a tmpfs skeleton and ignores these).
    for (auto dir : {"dev", "tmp", "var"}) mkdir(kj::str(pkg, "/", dir).cStr(), 0755);
    const char* argv[] = {bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", pkg.cStr(),
                          "/", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", var.cStr(), "/var",
                          "--chdir", "/", "/program", nullptr};
    auto b = measure(runs, [&] { runAndWait(bwrap, argv); });
    print("bwrap", b);
    printf("ratio ours/bwrap %.2f, ours+cgroup/bwrap %.2f\n", ours.median / b.median,
           withCgroup.median / b.median);
  } else {
    printf("bwrap          not installed (apt-get install bubblewrap)\n");
  }
  return 0;
}

}  // namespace
}  // namespace ss::sandbox

int main(int argc, char** argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 200;
  if (runs < 1) runs = 200;
  try {
    return ss::sandbox::run(runs);
  } catch (kj::Exception& e) {
    fprintf(stderr, "%s\n", e.getDescription().cStr());
    return 1;
  }
}
