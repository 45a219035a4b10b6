// Starting a grain's first process inside its sandbox.
//
//   SandboxHost host = SandboxHost::detect();        // once, at daemon start
//   auto proc = spawnSandboxed(host, plan, fd3);     // per grain start
//   ... poll proc.pidfd() for exit (reactor), then proc.reap() / proc.wait()
//
// spawnSandboxed() runs clone3(CLONE_PIDFD | user, mount, pid, net, ipc, uts namespaces
// [| CLONE_INTO_CGROUP on cgroup v2]); the child runs the linear setup in child.c++ and
// execs plan.argv[0] inside the new root with fd 3 = `fd3`. It returns once the exec has
// happened (the child's close-on-exec error pipe reached EOF), or throws with the child's
// message naming the failed step ("bind /var: open grain var directory: ...: No such file or
// directory (ENOENT)"), so a grain that cannot start yields a readable error.
//
// Root and unprivileged daemons. As root, grain processes run as plan.hostUid/hostGid (seen
// inside as 1000/1000). Unprivileged (e.g. inside Docker/LXC), the kernel only lets us map our
// own uid, so grains run as the daemon's uid, seen as 1000 inside; the namespaces, mounts,
// seccomp and capability drop are identical. If the kernel refuses user namespaces, the error
// names the setting or missing feature. cgroups need a writable hierarchy (root, or a
// delegated one); without one, plans with requireCgroup=false start without limits.
//
// Must be called from a single-threaded process (the daemon is), or at least with no other
// thread forking: the child inherits the fds that exist at clone time until it closes them.
#pragma once

#include <kj/io.h>
#include <kj/memory.h>
#include <kj/string.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"
#include "sandbox/plan.h"
#include "sandbox/seccomp.h"

namespace ss::sandbox {

class SandboxHost {
public:
  static SandboxHost detect();
  // Compiles the seccomp filter, finds cgroups (CgroupRoot::detect), notes whether we may map
  // other uids (root). Cheap enough for tests to call per test case.

  SandboxHost(SeccompProgram seccomp, kj::Maybe<CgroupRoot> cgroups, bool privileged,
              kj::String noCgroupReason);

  const SeccompProgram& seccomp() const { return seccomp_; }
  kj::Maybe<SeccompProgram> bridgeSeccomp;
  // compileGrainFilter(FilterFor::BRIDGE), used when the plan says the first process is our
  // own bridge (SandboxPlan::initIsBridge); without it such grains get the APP filter.
  kj::Maybe<const CgroupRoot&> cgroups() const;
  bool privileged() const { return privileged_; }
  kj::StringPtr noCgroupReason() const { return noCgroupReason_; }

  kj::String stagingDir = kj::str("/tmp");
  // Host directory the child mounts its root tmpfs on, in its own mount namespace only (the
  // host's /tmp is untouched). Any existing directory works.

private:
  SeccompProgram seccomp_;
  kj::Maybe<CgroupRoot> cgroups_;
  bool privileged_;
  kj::String noCgroupReason_;
};

struct ExitStatus {
  bool exited = false;  // true: `code` is the exit status; false: killed by `signal`
  int code = 0;
  int signal = 0;
  CgroupEvents events;  // read at reap time: OOM kills, pids.max hits

  kj::String describe() const;
  // "exited with status 0", "killed by signal 9: out of memory (1 process killed)", ...
};

class SandboxedProcess {
public:
  SandboxedProcess(pid_t pid, kj::AutoCloseFd pidfd, kj::Maybe<kj::Own<Cgroup>> cgroup);
  SandboxedProcess(SandboxedProcess&&) = default;
  SandboxedProcess& operator=(SandboxedProcess&&) = default;
  ~SandboxedProcess() noexcept(false);
  // Unless reaped already: SIGKILL, wait, then the cgroup is emptied and removed.

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  // Readable when the grain's init exits (poll it through the reactor).
  kj::Maybe<Cgroup&> cgroup();

  void kill();
  // SIGKILL to the grain's init (its pid namespace dies with it) and to everything in the
  // grain's cgroup.
  ExitStatus wait();
  // Blocks until the grain's init exits and reaps it.
  kj::Maybe<ExitStatus> tryWait();
  // Reaps if it has exited (after the reactor saw the pidfd readable), else null.

private:
  pid_t pid_;
  kj::AutoCloseFd pidfd_;
  kj::Maybe<kj::Own<Cgroup>> cgroup_;
  bool reaped_ = false;

  kj::Maybe<ExitStatus> waitImpl(int options);
};

struct SpawnIo {
  int stdoutFd = -1;  // becomes the grain's fd 1; -1 = /dev/null
  int stderrFd = -1;  // becomes fd 2 (the grain's log); -1 = /dev/null
};
// fd 0 is always /dev/null.

SandboxedProcess spawnSandboxed(const SandboxHost& host, const SandboxPlan& plan, int fd3,
                                SpawnIo io = {});
SandboxedProcess spawnSandboxed(const SandboxPlan& plan, int fd3, SpawnIo io = {});
// Uses a SandboxHost detected on first use and kept for the life of the process.

kj::String diagnoseNamespaceFailure(int error, bool privileged);
// The message for a clone3 failure: which namespace type or setting is missing. Forks a
// short-lived probe child to find the first namespace type the kernel refuses.

}  // namespace ss::sandbox
