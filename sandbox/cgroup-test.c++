// Resource containment with real grains: fork and thread bombs stop at pids.max, a memory hog
// is OOM-killed inside its own cgroup, limits land in the cgroup files, and each event is
// reported as a value the shell can show.
#include "sandbox/cgroup.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include <kj/debug.h>

#include "base/fd.h"
#include "sandbox/limits.h"
#include "sandbox/spawn.h"
#include "sandbox/test-package.h"
#include "tests/test-support.h"

namespace ss::sandbox {
namespace {

using test::TestGrain;
using test::uniqueGrainId;

std::string readLine(int fd) {
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

std::string jsonField(const std::string& line, const std::string& name) {
  auto key = "\"" + name + "\":\"";
  auto pos = line.find(key);
  if (pos == std::string::npos) return "";
  auto start = pos + key.size();
  return line.substr(start, line.find('"', start) - start);
}

std::string readSmall(const kj::String& path) {
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buffer[256];
  ssize_t n = read(fd, buffer, sizeof(buffer));
  close(fd);
  std::string s(buffer, n > 0 ? n : 0);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

double hostForkMillis() {
  timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  pid_t p = fork();
  if (p == 0) _exit(0);
  waitpid(p, nullptr, 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
}

struct Bomb {
  std::string result;
  std::string count;
  ExitStatus status;
  double hostForkMs;
};

Bomb runBomb(const SandboxHost& host, kj::StringPtr mode, uint32_t pidsMax) {
  TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  kj::StringPtr args[] = {mode};
  auto config = grain.config(uniqueGrainId(mode), args);
  config.limits.pidsMax = pidsMax;
  auto plan = planFor(config);
  auto out = makePipe(false);
  auto sock = makeSocketPair();
  auto proc = spawnSandboxed(host, plan, sock.second.get(), {.stdoutFd = out.second.get()});
  out.second = nullptr;
  auto line = readLine(out.first.get());
  // The bomb is at its limit now (its processes are paused, not exited): the host must still
  // fork promptly.
  double ms = hostForkMillis();
  auto status = proc.wait();
  return Bomb{jsonField(line, "result"), jsonField(line, "detail"), kj::mv(status), ms};
}

TEST_CASE("a fork bomb stops at pids.max and is reported (R-1)", "[sandbox][cgroup]") {
  if (geteuid() != 0) SS_SKIP("needs root for cgroups (CI runs as root)");
  auto host = SandboxHost::detect();
  if (host.cgroups() == nullptr) SS_SKIP(kj::str("no cgroups: ", host.noCgroupReason()));
  auto bomb = runBomb(host, "forkbomb", 32);
  CHECK(bomb.result == "EAGAIN");
  CHECK(std::stoi(bomb.count) == 31);  // pids.max counts the grain's init too
  CHECK(bomb.status.events.pidsMaxHits >= 1);
  CHECK(bomb.hostForkMs < 250);
  CAPTURE(bomb.status.describe());
  CHECK(kj::StringPtr(bomb.status.describe()).endsWith("fork refused)"));
}

TEST_CASE("a thread bomb stops at pids.max (R-2)", "[sandbox][cgroup]") {
  if (geteuid() != 0) SS_SKIP("needs root for cgroups (CI runs as root)");
  auto host = SandboxHost::detect();
  if (host.cgroups() == nullptr) SS_SKIP(kj::str("no cgroups: ", host.noCgroupReason()));
  auto bomb = runBomb(host, "threadbomb", 24);
  CHECK(bomb.result == "EAGAIN");
  CHECK(std::stoi(bomb.count) == 23);
  CHECK(bomb.status.events.pidsMaxHits >= 1);
}

TEST_CASE("a memory hog is OOM-killed inside its own cgroup (R-3)", "[sandbox][cgroup]") {
  if (geteuid() != 0) SS_SKIP("needs root for cgroups (CI runs as root)");
  auto host = SandboxHost::detect();
  if (host.cgroups() == nullptr) SS_SKIP(kj::str("no cgroups: ", host.noCgroupReason()));
  // A host process in the daemon's cgroup that must survive the grain's OOM.
  pid_t bystander = fork();
  if (bystander == 0) {
    for (;;) pause();
  }
  TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  kj::StringPtr args[] = {"memhog", "128"};
  auto config = grain.config(uniqueGrainId("memhog"), args);
  config.limits.memoryBytes = 32ull << 20;
  auto plan = planFor(config);
  auto out = makePipe(false);
  auto sock = makeSocketPair();
  auto proc = spawnSandboxed(host, plan, sock.second.get(), {.stdoutFd = out.second.get()});
  out.second = nullptr;
  auto status = proc.wait();
  auto line = readLine(out.first.get());
  CAPTURE(line, status.describe());
  CHECK(line.empty());  // it never got to say "survived"
  CHECK(!status.exited);
  CHECK(status.signal == SIGKILL);
  CHECK(status.events.oomKills >= 1);
  CHECK(kj::StringPtr(status.describe()).endsWith("out of memory (1 process killed)"));
  CHECK(kill(bystander, 0) == 0);
  kill(bystander, SIGKILL);
  waitpid(bystander, nullptr, 0);
}

TEST_CASE("limits are written to the grain's cgroup and usage is readable", "[sandbox][cgroup]") {
  if (geteuid() != 0) SS_SKIP("needs root for cgroups (CI runs as root)");
  auto host = SandboxHost::detect();
  KJ_IF_MAYBE(root, host.cgroups()) {
    Limits l = Limits::defaults();
    l.memoryBytes = 64ull << 20;
    l.pidsMax = 77;
    l.cpuWeight = 50;
    l.cpuMaxPercent = 150;
    auto name = uniqueGrainId("limits");
    auto cg = Cgroup::create(*root, name, l);
    CHECK(cg->isEmpty());
    auto dirs = root->parentDirs();
    if (root->version() == CgroupVersion::V1) {
      CHECK(readSmall(kj::str(dirs[0], "/", name, "/memory.limit_in_bytes")) ==
            std::to_string(64ull << 20));
      auto memsw = readSmall(kj::str(dirs[0], "/", name, "/memory.memsw.limit_in_bytes"));
      if (!memsw.empty()) CHECK(memsw == std::to_string(64ull << 20));  // swap 0
      CHECK(readSmall(kj::str(dirs[1], "/", name, "/pids.max")) == "77");
      if (root->hasCpu()) {
        CHECK(readSmall(kj::str(dirs[2], "/", name, "/cpu.shares")) == "512");
        CHECK(readSmall(kj::str(dirs[2], "/", name, "/cpu.cfs_quota_us")) == "150000");
      }
    } else {
      CHECK(readSmall(kj::str(dirs[0], "/", name, "/memory.max")) == std::to_string(64ull << 20));
      CHECK(readSmall(kj::str(dirs[0], "/", name, "/pids.max")) == "77");
    }
    auto events = cg->events();
    CHECK(events.oomKills == 0);
    CHECK(events.pidsMaxHits == 0);
    CHECK(describeEvents(events) == "");
  } else {
    SS_SKIP(kj::str("no cgroups: ", host.noCgroupReason()));
  }
}

TEST_CASE("a running grain's memory and CPU use are measured", "[sandbox][cgroup]") {
  if (geteuid() != 0) SS_SKIP("needs root for cgroups (CI runs as root)");
  auto host = SandboxHost::detect();
  if (host.cgroups() == nullptr) SS_SKIP(kj::str("no cgroups: ", host.noCgroupReason()));
  TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  kj::StringPtr args[] = {"fds"};
  auto out = makePipe(false);
  auto plan = planFor(grain.config(uniqueGrainId("usage"), args));
  auto sock = makeSocketPair();
  auto proc = spawnSandboxed(host, plan, sock.second.get(), {.stdoutFd = out.second.get()});
  auto& cg = KJ_ASSERT_NONNULL(proc.cgroup());
  auto usage = cg.usage();
  CHECK(usage.memoryBytes > 0);
  proc.wait();
  if (KJ_ASSERT_NONNULL(host.cgroups()).hasCpuacct()) CHECK(cg.usage().cpuUsec > 0);
  CHECK(cg.isEmpty());
}

TEST_CASE("killAll empties a grain cgroup whose init ignores the supervisor", "[sandbox][cgroup]") {
  if (geteuid() != 0) SS_SKIP("needs root for cgroups (CI runs as root)");
  auto host = SandboxHost::detect();
  if (host.cgroups() == nullptr) SS_SKIP(kj::str("no cgroups: ", host.noCgroupReason()));
  TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  kj::StringPtr args[] = {"forkbomb", "hold"};
  auto config = grain.config(uniqueGrainId("killall"), args);
  config.limits.pidsMax = 16;
  auto out = makePipe(false);
  auto plan = planFor(config);
  auto sock = makeSocketPair();
  auto proc = spawnSandboxed(host, plan, sock.second.get(), {.stdoutFd = out.second.get()});
  out.second = nullptr;
  readLine(out.first.get());
  auto& cg = KJ_ASSERT_NONNULL(proc.cgroup());
  cg.killAll();
  CHECK(cg.isEmpty());
  auto status = proc.wait();
  CHECK(!status.exited);
}

}  // namespace
}  // namespace ss::sandbox

namespace ss::sandbox {
namespace {

std::string cgroup2SuperOptions() {
  FILE* f = fopen("/proc/self/mountinfo", "r");
  if (f == nullptr) return "";
  char line[4096];
  std::string result;
  while (fgets(line, sizeof(line), f) != nullptr) {
    std::string s(line);
    auto dash = s.find(" - cgroup2 ");
    if (dash != std::string::npos) {
      result = s.substr(dash);
      break;
    }
  }
  fclose(f);
  return result;
}

TEST_CASE("on cgroup v1, detection puts the cgroup2 superblock in favordynmods mode",
          "[sandbox][cgroup]") {
  auto root = CgroupRoot::detect();
  if (root == nullptr) {
    WARN("skipped: no writable cgroup hierarchy: " << CgroupRoot::whyNotAvailable().cStr());
    return;
  }
  if (KJ_ASSERT_NONNULL(root).version() != CgroupVersion::V1) {
    WARN("skipped: cgroup v2 host; v2 grains clone straight into their cgroup");
    return;
  }
  auto options = cgroup2SuperOptions();
  if (options.empty()) {
    WARN("skipped: no cgroup2 mount to read the flag from (it was set on an unattached one)");
    return;
  }
  // The flag makes v1 cgroup.procs writes skip an RCU grace period (see favorDynamicMigration).
  CHECK(options.find("favordynmods") != std::string::npos);
}

}  // namespace
}  // namespace ss::sandbox
