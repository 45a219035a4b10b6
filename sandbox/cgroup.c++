#include "sandbox/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <kj/debug.h>

#include "base/log.h"
#include "sandbox/limits.h"

namespace ss::sandbox {

namespace {

thread_local kj::String lastDetectFailure;

kj::Maybe<kj::String> tryReadFile(kj::StringPtr path) {
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  kj::AutoCloseFd owned(fd);
  kj::Vector<char> data;
  char buffer[4096];
  for (;;) {
    ssize_t n;
    KJ_SYSCALL(n = read(fd, buffer, sizeof(buffer)), path);
    if (n == 0) break;
    data.addAll(buffer, buffer + n);
  }
  data.add('\0');
  return kj::String(data.releaseAsArray());
}

kj::Maybe<kj::String> tryReadAt(int dirfd, const char* name) {
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  kj::AutoCloseFd owned(fd);
  kj::Vector<char> data;
  char buffer[4096];
  for (;;) {
    ssize_t n;
    KJ_SYSCALL(n = read(fd, buffer, sizeof(buffer)), name);
    if (n == 0) break;
    data.addAll(buffer, buffer + n);
  }
  data.add('\0');
  return kj::String(data.releaseAsArray());
}

void writeAt(int dirfd, const char* name, kj::StringPtr value) {
  int fd;
  KJ_SYSCALL(fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC), name);
  kj::AutoCloseFd owned(fd);
  ssize_t n;
  KJ_SYSCALL(n = write(fd, value.begin(), value.size()), name, value);
}

bool existsAt(int dirfd, const char* name) {
  return faccessat(dirfd, name, F_OK, 0) == 0;
}

// "key value" lines (memory.events, pids.events, memory.oom_control, cpu.stat).
uint64_t keyedValue(kj::StringPtr text, kj::StringPtr key) {
  const char* p = text.cStr();
  while (*p != '\0') {
    if (strncmp(p, key.cStr(), key.size()) == 0 && p[key.size()] == ' ') {
      return strtoull(p + key.size() + 1, nullptr, 10);
    }
    const char* nl = strchr(p, '\n');
    if (nl == nullptr) break;
    p = nl + 1;
  }
  return 0;
}

kj::Vector<kj::String> splitWords(kj::StringPtr line, char sep) {
  kj::Vector<kj::String> out;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); i++) {
    if (i == line.size() || line[i] == sep) {
      out.add(kj::heapString(line.slice(start, i)));
      start = i + 1;
    }
  }
  return out;
}

struct Mount {
  kj::String point;
  kj::String fstype;
  kj::String superOptions;
};

kj::Vector<Mount> cgroupMounts() {
  kj::Vector<Mount> result;
  KJ_IF_MAYBE(info, tryReadFile("/proc/self/mountinfo")) {
    for (auto& line : splitWords(*info, '\n')) {
      auto fields = splitWords(line, ' ');
      // id parent major:minor root mountpoint options [optional...] - fstype source superopts
      size_t dash = 0;
      for (size_t i = 0; i < fields.size(); i++) {
        if (fields[i] == "-") { dash = i; break; }
      }
      if (dash == 0 || fields.size() < dash + 4) continue;
      auto& type = fields[dash + 1];
      if (type != "cgroup" && type != "cgroup2") continue;
      result.add(Mount{kj::mv(fields[4]), kj::mv(fields[dash + 1]), kj::mv(fields[dash + 3])});
    }
  }
  return result;
}

bool hasOption(kj::StringPtr options, kj::StringPtr option) {
  for (auto& o : splitWords(options, ',')) {
    if (o == option) return true;
  }
  return false;
}

// The daemon's own path in hierarchy `controller` ("" = the v2 line "0::/path").
kj::Maybe<kj::String> selfCgroupPath(kj::StringPtr controller) {
  KJ_IF_MAYBE(text, tryReadFile("/proc/self/cgroup")) {
    for (auto& line : splitWords(*text, '\n')) {
      auto parts = splitWords(line, ':');
      if (parts.size() < 3) continue;
      if (controller == "") {
        if (parts[0] == "0" && parts[1] == "") return kj::mv(parts[2]);
      } else {
        for (auto& c : splitWords(parts[1], ',')) {
          if (c == controller) return kj::mv(parts[2]);
        }
      }
    }
  }
  return nullptr;
}

kj::String joinPath(kj::StringPtr mount, kj::StringPtr self, kj::StringPtr parentName) {
  if (self == "/") return kj::str(mount, "/", parentName);
  return kj::str(mount, self, "/", parentName);
}

bool makeWritableDir(kj::StringPtr path) {
  if (mkdir(path.cStr(), 0755) < 0 && errno != EEXIST) return false;
  return access(path.cStr(), W_OK) == 0;
}

void sleepMillis(long ms) {
  timespec ts{0, ms * 1000000};
  nanosleep(&ts, nullptr);
}

// cgroup v1 has no CLONE_INTO_CGROUP, so every grain start writes its pid to cgroup.procs. That
// write takes the kernel's global threadgroup rwsem for writing, which by default waits for an
// RCU grace period: 5-18 ms measured here, more than the whole rest of a cold start. The
// `favordynmods` root flag (Linux 6.0+) keeps that lock in its writer-friendly mode (6.18:
// per-threadgroup locking instead), so the write takes ~0.2 ms, at the cost of slightly slower
// fork/exit host-wide. v1 hierarchies refuse flag changes on remount, but the lock is global
// and cgroup2's flags may change: reconfigure the cgroup2 superblock (hybrid hosts mount it at
// .../unified) with the options it already has plus favordynmods, or, with no cgroup2 mounted,
// create a cgroup2 superblock that is never attached anywhere. fspick/fsconfig touch only the
// superblock, never the mount's nosuid/nodev/noexec. Opt out: SANDSTORM_NO_FAVOR_DYNMODS=1.
// Failure (older kernel, no privilege) is logged and harmless: starts are only slower.
#ifndef FSCONFIG_SET_FLAG
#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#define FSCONFIG_CMD_RECONFIGURE 7
#endif
#ifndef FSPICK_CLOEXEC
#define FSPICK_CLOEXEC 0x00000001
#endif
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif

void favorDynamicMigration(kj::ArrayPtr<const Mount> mounts) {
  const char* optOut = getenv("SANDSTORM_NO_FAVOR_DYNMODS");
  if (optOut != nullptr && optOut[0] != '\0' && strcmp(optOut, "0") != 0) return;
  const Mount* v2 = nullptr;
  for (auto& m : mounts) {
    if (m.fstype == "cgroup2") { v2 = &m; break; }
  }
  if (v2 != nullptr && hasOption(v2->superOptions, "favordynmods")) return;

  int fd = v2 != nullptr
      ? static_cast<int>(syscall(SYS_fspick, AT_FDCWD, v2->point.cStr(), FSPICK_CLOEXEC))
      : static_cast<int>(syscall(SYS_fsopen, "cgroup2", FSOPEN_CLOEXEC));
  if (fd < 0) {
    SS_LOG(INFO, "sandbox", "cgroup favordynmods not set (fspick/fsopen)", strerror(errno));
    return;
  }
  kj::AutoCloseFd owned(fd);
  if (v2 != nullptr) {
    // Keep nsdelegate, memory_recursiveprot, ...: a reconfigure resets flags not given.
    for (auto& option : splitWords(v2->superOptions, ',')) {
      if (option == "rw" || option == "ro" || option.size() == 0) continue;
      if (syscall(SYS_fsconfig, fd, FSCONFIG_SET_FLAG, option.cStr(), nullptr, 0) < 0) {
        SS_LOG(INFO, "sandbox", "cgroup favordynmods not set (keeping an option failed)",
               option, strerror(errno));
        return;
      }
    }
  }
  int command = v2 != nullptr ? FSCONFIG_CMD_RECONFIGURE : FSCONFIG_CMD_CREATE;
  if (syscall(SYS_fsconfig, fd, FSCONFIG_SET_FLAG, "favordynmods", nullptr, 0) < 0 ||
      syscall(SYS_fsconfig, fd, command, nullptr, nullptr, 0) < 0) {
    SS_LOG(INFO, "sandbox", "cgroup favordynmods not set (needs Linux 6.0+)", strerror(errno));
    return;
  }
  kj::StringPtr where = v2 != nullptr ? v2->point.asPtr() : "(unattached cgroup2)";
  SS_LOG(INFO, "sandbox", "cgroup favordynmods set so v1 grain starts skip an RCU wait", where);
}

}  // namespace

CgroupRoot::CgroupRoot(CgroupVersion version, kj::Array<kj::String> parents, int cpuIndex,
                       int cpuacctIndex)
    : version_(version), parents(kj::mv(parents)), cpuIndex(cpuIndex),
      cpuacctIndex(cpuacctIndex) {}

kj::String CgroupRoot::whyNotAvailable() { return kj::str(lastDetectFailure); }

kj::Maybe<CgroupRoot> CgroupRoot::detect(kj::StringPtr parentName) {
  auto mounts = cgroupMounts();

  // cgroup v2, if it carries the controllers we need.
  for (auto& m : mounts) {
    if (m.fstype != "cgroup2") continue;
    auto controllers = tryReadFile(kj::str(m.point, "/cgroup.controllers"));
    KJ_IF_MAYBE(c, controllers) {
      auto words = splitWords(*c, ' ');
      bool memory = false, pids = false, cpu = false;
      for (auto& w : words) {
        kj::StringPtr word = w;
        kj::String trimmed;
        if (word.endsWith("\n")) {
          trimmed = kj::heapString(word.slice(0, word.size() - 1));
          word = trimmed;
        }
        memory = memory || word == "memory";
        pids = pids || word == "pids";
        cpu = cpu || word == "cpu";
      }
      if (!memory || !pids) continue;
      KJ_IF_MAYBE(self, selfCgroupPath("")) {
        auto parent = joinPath(m.point, *self, parentName);
        if (!makeWritableDir(parent)) {
          lastDetectFailure = kj::str("cgroup v2: cannot create writable ", parent, ": ",
                                      strerror(errno));
          return nullptr;
        }
        // The grains' parent must hand the controllers down. (Its own parent, the daemon's
        // cgroup, must already delegate them: with systemd, Delegate=yes.)
        auto wanted = kj::str("+memory +pids", cpu ? " +cpu" : "");
        int fd = open(kj::str(parent, "/cgroup.subtree_control").cStr(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, wanted.begin(), wanted.size()) < 0) {
          lastDetectFailure = kj::str("cgroup v2: cannot enable ", wanted, " under ", parent,
                                      ": ", strerror(errno),
                                      " (the daemon's cgroup must delegate them)");
          if (fd >= 0) close(fd);
          return nullptr;
        }
        close(fd);
        auto parents = kj::heapArray<kj::String>(1);
        parents[0] = kj::mv(parent);
        return CgroupRoot(CgroupVersion::V2, kj::mv(parents), cpu ? 0 : -1, cpu ? 0 : -1);
      }
    }
  }

  // cgroup v1: memory and pids are required, cpu and cpuacct optional.
  kj::Vector<kj::String> parents;
  int cpuIndex = -1, cpuacctIndex = -1;
  for (auto controller : {"memory", "pids", "cpu", "cpuacct"}) {
    bool found = false;
    for (auto& m : mounts) {
      if (m.fstype != "cgroup" || !hasOption(m.superOptions, controller)) continue;
      KJ_IF_MAYBE(self, selfCgroupPath(controller)) {
        auto parent = joinPath(m.point, *self, parentName);
        if (!makeWritableDir(parent)) {
          lastDetectFailure = kj::str("cgroup v1: cannot create writable ", parent, ": ",
                                      strerror(errno));
          if (kj::StringPtr(controller) == "memory" || kj::StringPtr(controller) == "pids") {
            return nullptr;
          }
          break;
        }
        // A hierarchy mounted with both cpu and cpuacct appears for each; use it once.
        for (auto& p : parents) {
          if (p == parent) { found = true; }
        }
        if (found) {
          if (kj::StringPtr(controller) == "cpuacct") cpuacctIndex = cpuIndex;
          break;
        }
        if (kj::StringPtr(controller) == "cpu") cpuIndex = parents.size();
        if (kj::StringPtr(controller) == "cpuacct") cpuacctIndex = parents.size();
        parents.add(kj::mv(parent));
        found = true;
        break;
      }
    }
    if (!found && (kj::StringPtr(controller) == "memory" || kj::StringPtr(controller) == "pids")) {
      lastDetectFailure = kj::str("no cgroup v2 with memory+pids and no cgroup v1 ", controller,
                                  " hierarchy mounted");
      return nullptr;
    }
  }
  favorDynamicMigration(mounts);
  return CgroupRoot(CgroupVersion::V1, parents.releaseAsArray(), cpuIndex, cpuacctIndex);
}

Cgroup::Cgroup(const CgroupRoot& root, kj::String name)
    : name_(kj::mv(name)), version(root.version_), cpuIndex(root.cpuIndex),
      cpuacctIndex(root.cpuacctIndex) {}

kj::Own<Cgroup> Cgroup::create(const CgroupRoot& root, kj::StringPtr name, const Limits& l) {
  auto cg = kj::Own<Cgroup>(new Cgroup(root, kj::str(name)), kj::_::HeapDisposer<Cgroup>::instance);
  for (auto& parent : root.parents) {
    auto path = kj::str(parent, "/", name);
    if (mkdir(path.cStr(), 0755) < 0) {
      KJ_REQUIRE(errno == EEXIST, "cannot create grain cgroup", path, strerror(errno));
      // Left over from a daemon that died with the grain running: empty it and reuse it.
      SS_LOG(WARNING, "sandbox", "reusing leftover grain cgroup", path);
    }
    int fd;
    KJ_SYSCALL(fd = open(path.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), path);
    cg->dirs.add(kj::AutoCloseFd(fd));
    cg->paths.add(kj::mv(path));
  }
  cg->killAll();

  int mem = cg->dirs[0].get();
  if (cg->version == CgroupVersion::V2) {
    writeAt(mem, "memory.max", kj::str(l.memoryBytes));
    if (existsAt(mem, "memory.swap.max")) writeAt(mem, "memory.swap.max", kj::str(l.swapBytes));
    // One OOM kill takes the whole grain down: a half-killed app (bridge alive, server dead)
    // looks "up" but answers nothing, while a dead grain restarts on the next request.
    if (existsAt(mem, "memory.oom.group")) writeAt(mem, "memory.oom.group", "1");
    writeAt(mem, "pids.max", kj::str(l.pidsMax));
    if (cg->cpuIndex >= 0) {
      writeAt(mem, "cpu.weight", kj::str(l.cpuWeight));
      if (l.cpuMaxPercent > 0) {
        writeAt(mem, "cpu.max", kj::str(l.cpuMaxPercent * 1000, " 100000"));
      }
    }
  } else {
    // memsw (memory + swap) must never be below the memory limit, so write memory first.
    // Lowering limits on a reused cgroup could trip that order the other way; the cgroup was
    // just emptied, so raise memsw to the new total first when it is smaller.
    bool hasMemsw = existsAt(mem, "memory.memsw.limit_in_bytes");
    if (hasMemsw) writeAt(mem, "memory.memsw.limit_in_bytes", "-1");
    writeAt(mem, "memory.limit_in_bytes", kj::str(l.memoryBytes));
    if (hasMemsw) {
      writeAt(mem, "memory.memsw.limit_in_bytes", kj::str(l.memoryBytes + l.swapBytes));
    }
    writeAt(cg->dirs[1].get(), "pids.max", kj::str(l.pidsMax));
    if (cg->cpuIndex >= 0) {
      int cpu = cg->dirs[cg->cpuIndex].get();
      writeAt(cpu, "cpu.shares", kj::str(kj::max(2u, l.cpuWeight * 1024 / 100)));
      if (l.cpuMaxPercent > 0) {
        writeAt(cpu, "cpu.cfs_period_us", "100000");
        writeAt(cpu, "cpu.cfs_quota_us", kj::str(l.cpuMaxPercent * 1000));
      }
    }
  }
  return cg;
}

Cgroup::~Cgroup() noexcept(false) {
  try {
    killAll();
  } catch (kj::Exception& e) {
    SS_LOG(ERROR, "sandbox", "could not empty grain cgroup", name_, e.getDescription());
  }
  for (auto& path : paths) {
    // Exiting tasks may hold the cgroup for a moment after cgroup.procs reads empty.
    for (int attempt = 0; attempt < 200; attempt++) {
      if (rmdir(path.cStr()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) {
        SS_LOG(ERROR, "sandbox", "rmdir grain cgroup failed", path, strerror(errno));
        break;
      }
      sleepMillis(1);
      if (attempt == 199) SS_LOG(ERROR, "sandbox", "grain cgroup stays busy", path);
    }
  }
}

void Cgroup::addProcess(pid_t pid) {
  auto text = kj::str(pid);
  for (auto& dir : dirs) writeAt(dir.get(), "cgroup.procs", text);
}

int Cgroup::cloneIntoFd() const {
  return version == CgroupVersion::V2 ? dirs[0].get() : -1;
}

bool Cgroup::isEmpty() const {
  KJ_IF_MAYBE(procs, tryReadAt(dirs[0].get(), "cgroup.procs")) {
    return procs->size() == 0;
  }
  return true;
}

void Cgroup::killAll() {
  if (version == CgroupVersion::V2 && existsAt(dirs[0].get(), "cgroup.kill")) {
    writeAt(dirs[0].get(), "cgroup.kill", "1");
  }
  // v1 (and v2 before 5.14): kill what is listed until nothing is. A fork racing with us
  // shows up in the next read; the grain's init dying takes its pid namespace with it.
  for (uint32_t round = 0; round < limits::KILL_RETRY_LIMIT; round++) {
    auto procs = KJ_ASSERT_NONNULL(tryReadAt(dirs[0].get(), "cgroup.procs"));
    if (procs.size() == 0) return;
    for (auto& word : splitWords(procs, '\n')) {
      if (word.size() == 0) continue;
      pid_t pid = static_cast<pid_t>(strtol(word.cStr(), nullptr, 10));
      if (pid > 0) kill(pid, SIGKILL);
    }
    sleepMillis(1);
  }
  KJ_FAIL_REQUIRE("grain cgroup does not empty after SIGKILL", name_);
}

CgroupEvents Cgroup::events() const {
  CgroupEvents result;
  if (version == CgroupVersion::V2) {
    KJ_IF_MAYBE(e, tryReadAt(dirs[0].get(), "memory.events")) {
      result.oomKills = keyedValue(*e, "oom_kill");
    }
    KJ_IF_MAYBE(e, tryReadAt(dirs[0].get(), "pids.events")) {
      result.pidsMaxHits = keyedValue(*e, "max");
    }
  } else {
    KJ_IF_MAYBE(e, tryReadAt(dirs[0].get(), "memory.oom_control")) {
      result.oomKills = keyedValue(*e, "oom_kill");
    }
    KJ_IF_MAYBE(e, tryReadAt(dirs[1].get(), "pids.events")) {
      result.pidsMaxHits = keyedValue(*e, "max");
    }
  }
  return result;
}

CgroupUsage Cgroup::usage() const {
  CgroupUsage result;
  if (version == CgroupVersion::V2) {
    KJ_IF_MAYBE(m, tryReadAt(dirs[0].get(), "memory.current")) {
      result.memoryBytes = strtoull(m->cStr(), nullptr, 10);
    }
    KJ_IF_MAYBE(s, tryReadAt(dirs[0].get(), "cpu.stat")) {
      result.cpuUsec = keyedValue(*s, "usage_usec");
    }
  } else {
    KJ_IF_MAYBE(m, tryReadAt(dirs[0].get(), "memory.usage_in_bytes")) {
      result.memoryBytes = strtoull(m->cStr(), nullptr, 10);
    }
    if (cpuacctIndex >= 0) {
      KJ_IF_MAYBE(u, tryReadAt(dirs[cpuacctIndex].get(), "cpuacct.usage")) {
        result.cpuUsec = strtoull(u->cStr(), nullptr, 10) / 1000;
      }
    }
  }
  return result;
}

kj::String Cgroup::memoryDir() const { return kj::str(paths[0]); }

kj::String describeEvents(const CgroupEvents& events) {
  if (events.oomKills > 0) {
    return kj::str("out of memory (", events.oomKills, " process",
                   events.oomKills == 1 ? "" : "es", " killed)");
  }
  if (events.pidsMaxHits > 0) {
    return kj::str("process limit reached (", events.pidsMaxHits, " fork",
                   events.pidsMaxHits == 1 ? "" : "s", " refused)");
  }
  return kj::str();
}

}  // namespace ss::sandbox
