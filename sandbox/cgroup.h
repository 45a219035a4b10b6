// Per-grain cgroups: memory (+swap), pids and CPU limits, OOM / pids.max detection, kill-all.
//
// Layout. Grain cgroups live under a `sandstorm` directory inside the daemon's own cgroup, in
// each hierarchy, so the daemon's service limits (systemd slice, container) still cover all
// grains and nothing is created at the top of a hierarchy we do not own:
//   v2: <cgroup2 mount><daemon's cgroup>/sandstorm/<grainId>   (memory.max, memory.swap.max,
//       pids.max, cpu.weight, cpu.max, memory.oom.group)
//   v1: <memory mount><daemon's memory cgroup>/sandstorm/<grainId>  (limit_in_bytes, memsw)
//       <pids mount>.../sandstorm/<grainId>                          (pids.max)
//       <cpu mount>.../sandstorm/<grainId>       if mounted          (cpu.shares, cfs quota)
//       <cpuacct mount>.../sandstorm/<grainId>   if mounted          (usage for reports)
// v2 is used when the unified hierarchy has the memory and pids controllers; otherwise v1
// (this machine kind: v1 hybrid). The daemon itself stays outside every grain cgroup, so a
// grain's OOM kill can only pick grain processes.
#pragma once

#include <kj/array.h>
#include <kj/common.h>
#include <kj/io.h>
#include <kj/memory.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <sys/types.h>

#include "sandbox/plan.h"

namespace ss::sandbox {

enum class CgroupVersion { V1, V2 };

struct CgroupEvents {
  uint64_t oomKills = 0;     // processes the kernel OOM-killed inside this cgroup
  uint64_t pidsMaxHits = 0;  // fork/clone attempts refused by pids.max
};

struct CgroupUsage {
  uint64_t memoryBytes = 0;  // current charge (RSS + page cache + tmpfs)
  uint64_t cpuUsec = 0;      // total CPU time; 0 if no accounting controller is mounted
};

class CgroupRoot {
public:
  static kj::Maybe<CgroupRoot> detect(kj::StringPtr parentName = "sandstorm");
  // Reads /proc/self/mountinfo and /proc/self/cgroup once (daemon start, not per spawn),
  // creates the parent directories, and returns null when no usable hierarchy is writable
  // (an unprivileged daemon without delegation). `whyNot()` then says what was missing.

  static kj::String whyNotAvailable();
  // Human-readable reason the last detect() returned null.

  CgroupVersion version() const { return version_; }
  kj::ArrayPtr<const kj::String> parentDirs() const { return parents; }
  // v2: one directory. v1: memory, pids, then cpu and cpuacct when mounted (in that order).
  bool hasCpu() const { return cpuIndex >= 0; }
  bool hasCpuacct() const { return cpuacctIndex >= 0; }

  CgroupRoot(CgroupVersion version, kj::Array<kj::String> parents, int cpuIndex,
             int cpuacctIndex);

private:
  CgroupVersion version_;
  kj::Array<kj::String> parents;
  int cpuIndex;
  int cpuacctIndex;
  friend class Cgroup;
};

class Cgroup {
public:
  static kj::Own<Cgroup> create(const CgroupRoot& root, kj::StringPtr name, const Limits& limits);
  // mkdir in each hierarchy and write the limits. A leftover cgroup of the same name (daemon
  // crash) is emptied and reused.

  ~Cgroup() noexcept(false);
  // killAll() then rmdir, logging (not throwing) a directory that stays busy.
  KJ_DISALLOW_COPY(Cgroup);

  void addProcess(pid_t pid);
  // v1: writes `pid` to cgroup.procs in each hierarchy. v2 spawns use cloneIntoFd() instead.

  int cloneIntoFd() const;
  // v2: the directory fd for clone3(CLONE_INTO_CGROUP), so the child starts inside the cgroup
  // with no window outside it. -1 on v1.

  void killAll();
  // v2: cgroup.kill. v1: SIGKILL every pid in cgroup.procs until it reads empty.

  bool isEmpty() const;
  CgroupEvents events() const;
  CgroupUsage usage() const;
  kj::StringPtr name() const { return name_; }
  kj::String memoryDir() const;  // for tests and logs

private:
  Cgroup(const CgroupRoot& root, kj::String name);
  kj::String name_;
  CgroupVersion version;
  int cpuIndex;
  int cpuacctIndex;
  kj::Vector<kj::String> paths;      // parallel to CgroupRoot::parentDirs()
  kj::Vector<kj::AutoCloseFd> dirs;  // O_DIRECTORY fds of `paths`
};

kj::String describeEvents(const CgroupEvents& events);
// "out of memory (1 process killed)", "process limit reached (3 forks refused)" or "".

}  // namespace ss::sandbox
