// Parent side of a grain spawn: prepare plain C data for the child, clone3, map ids, join
// cgroups, release the child, and wait for exec (or its failure message).
#include "sandbox/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/vector.h>

#include "base/fd.h"
#include "base/log.h"
#include "sandbox/child.h"
#include "sandbox/limits.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace ss::sandbox {

namespace {

// A failure the operator can act on: the message is the whole description (KJ_FAIL_REQUIRE
// would prefix the expression text).
[[noreturn]] void failWith(kj::String message) {
  kj::throwFatalException(
      kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::mv(message)));
}

// Kernel ABI of clone3 (linux/sched.h, which clashes with glibc's <sched.h>).
struct CloneArgs {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t childTid;
  uint64_t parentTid;
  uint64_t exitSignal;
  uint64_t stack;
  uint64_t stackSize;
  uint64_t tls;
  uint64_t setTid;
  uint64_t setTidSize;
  uint64_t cgroup;
};

constexpr uint64_t NAMESPACE_FLAGS = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
                                     CLONE_NEWIPC | CLONE_NEWUTS;

kj::String readProcValue(const char* path) {
  char buffer[64];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kj::str("(absent)");
  ssize_t n = read(fd, buffer, sizeof(buffer) - 1);
  close(fd);
  if (n <= 0) return kj::str("?");
  while (n > 0 && buffer[n - 1] == '\n') n--;
  return kj::heapString(buffer, n);
}

void writeProcFile(pid_t pid, const char* name, kj::StringPtr content) {
  auto path = kj::str("/proc/", pid, "/", name);
  int fd;
  KJ_SYSCALL(fd = open(path.cStr(), O_WRONLY | O_CLOEXEC), path);
  kj::AutoCloseFd owned(fd);
  ssize_t n;
  KJ_SYSCALL_HANDLE_ERRORS(n = write(fd, content.begin(), content.size())) {
    case EPERM:
      failWith(kj::str("grain sandbox: cannot write ", name, " (\"",
                       content.slice(0, content.size() - 1),
                       "\"): EPERM; mapping a uid other than our own needs CAP_SETUID and "
                       "CAP_SETGID in the daemon's user namespace"));
    default:
      KJ_FAIL_SYSCALL("write", error, path, content);
  }
}

void killAndReap(pid_t pid, int pidfd) {
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  siginfo_t info;
  while (waitid(static_cast<idtype_t>(P_PIDFD), pidfd, &info, WEXITED) < 0 && errno == EINTR) {}
  (void)pid;
}

}  // namespace

// ---- SandboxHost ---------------------------------------------------------------------------

SandboxHost::SandboxHost(SeccompProgram seccomp, kj::Maybe<CgroupRoot> cgroups, bool privileged,
                         kj::String noCgroupReason)
    : seccomp_(kj::mv(seccomp)), cgroups_(kj::mv(cgroups)), privileged_(privileged),
      noCgroupReason_(kj::mv(noCgroupReason)) {}

SandboxHost SandboxHost::detect() {
  auto cgroups = CgroupRoot::detect();
  kj::String reason = cgroups == nullptr ? CgroupRoot::whyNotAvailable() : kj::str();
  SandboxHost host(compileGrainFilter(), kj::mv(cgroups), geteuid() == 0, kj::mv(reason));
  host.bridgeSeccomp = compileGrainFilter(FilterFor::BRIDGE);
  return host;
}

kj::Maybe<const CgroupRoot&> SandboxHost::cgroups() const {
  KJ_IF_MAYBE(c, cgroups_) return *c;
  return nullptr;
}

// ---- ExitStatus / SandboxedProcess ---------------------------------------------------------

kj::String ExitStatus::describe() const {
  auto base = exited ? kj::str("exited with status ", code)
                     : kj::str("killed by signal ", signal, " (", strsignal(signal), ")");
  auto why = describeEvents(events);
  if (why.size() == 0) return base;
  return kj::str(base, ": ", why);
}

SandboxedProcess::SandboxedProcess(pid_t pid, kj::AutoCloseFd pidfd,
                                   kj::Maybe<kj::Own<Cgroup>> cgroup)
    : pid_(pid), pidfd_(kj::mv(pidfd)), cgroup_(kj::mv(cgroup)) {}

SandboxedProcess::~SandboxedProcess() noexcept(false) {
  if (pidfd_.get() >= 0 && !reaped_) {
    kill();
    waitImpl(0);
  }
  // cgroup_'s destructor empties and removes the cgroup.
}

kj::Maybe<Cgroup&> SandboxedProcess::cgroup() {
  KJ_IF_MAYBE(c, cgroup_) return **c;
  return nullptr;
}

void SandboxedProcess::kill() {
  if (!reaped_) syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  KJ_IF_MAYBE(c, cgroup_) (*c)->killAll();
}

ExitStatus SandboxedProcess::wait() { return KJ_ASSERT_NONNULL(waitImpl(0)); }

kj::Maybe<ExitStatus> SandboxedProcess::tryWait() { return waitImpl(WNOHANG); }

kj::Maybe<ExitStatus> SandboxedProcess::waitImpl(int options) {
  KJ_REQUIRE(!reaped_, "grain process already reaped");
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  KJ_SYSCALL(waitid(static_cast<idtype_t>(P_PIDFD), pidfd_.get(), &info, WEXITED | options));
  if (info.si_pid == 0) return nullptr;  // WNOHANG, still running
  reaped_ = true;
  ExitStatus status;
  status.exited = info.si_code == CLD_EXITED;
  if (status.exited) {
    status.code = info.si_status;
  } else {
    status.signal = info.si_status;
  }
  KJ_IF_MAYBE(c, cgroup_) status.events = (*c)->events();
  return kj::mv(status);
}

// ---- Failure diagnosis ---------------------------------------------------------------------

kj::String diagnoseNamespaceFailure(int error, bool privileged) {
  if (error == ENOSYS) {
    return kj::str("clone3 is missing: Linux 5.3 or newer is required (CLONE_PIDFD, 5.2)");
  }
  // Find the first namespace type the kernel refuses, in a throwaway child.
  struct Probe { uint64_t flag; const char* name; const char* config; };
  constexpr Probe probes[] = {
      {CLONE_NEWUSER, "user namespaces", "CONFIG_USER_NS"},
      {CLONE_NEWNS, "mount namespaces", "CONFIG_NAMESPACES"},
      {CLONE_NEWPID, "pid namespaces", "CONFIG_PID_NS"},
      {CLONE_NEWNET, "network namespaces", "CONFIG_NET_NS"},
      {CLONE_NEWIPC, "IPC namespaces", "CONFIG_IPC_NS"},
      {CLONE_NEWUTS, "UTS namespaces", "CONFIG_UTS_NS"},
  };
  int failedIndex = -1, failedErrno = 0;
  auto pipe = makePipe(false);
  pid_t child = fork();
  if (child == 0) {
    int result[2] = {-1, 0};
    for (int i = 0; i < 6; i++) {
      uint64_t flags = probes[i].flag | (i > 0 ? CLONE_NEWUSER : 0);
      pid_t p = static_cast<pid_t>(syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0));
      if (p == 0) _exit(0);
      if (p < 0) {
        result[0] = i;
        result[1] = errno;
        break;
      }
      waitpid(p, nullptr, 0);
    }
    ssize_t ignored = write(pipe.second.get(), result, sizeof(result));
    (void)ignored;
    _exit(0);
  }
  if (child > 0) {
    pipe.second = nullptr;
    int result[2] = {-1, 0};
    if (read(pipe.first.get(), result, sizeof(result)) == sizeof(result)) {
      failedIndex = result[0];
      failedErrno = result[1];
    }
    waitpid(child, nullptr, 0);
  }

  auto settings = kj::str("user.max_user_namespaces=",
                          readProcValue("/proc/sys/user/max_user_namespaces"),
                          ", kernel.unprivileged_userns_clone=",
                          readProcValue("/proc/sys/kernel/unprivileged_userns_clone"),
                          ", kernel.apparmor_restrict_unprivileged_userns=",
                          readProcValue("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"));
  if (failedIndex < 0) {
    return kj::str("creating the grain's namespaces failed with ", strerrorname_np(error),
                   " although each type works alone; a namespace count limit (", settings,
                   ") or a container policy on clone3 is the likely cause");
  }
  auto& p = probes[failedIndex];
  kj::StringPtr hint;
  if (failedErrno == EINVAL) {
    hint = "the kernel was built without it";
  } else if (failedErrno == ENOSPC || failedErrno == EUSERS) {
    hint = "the per-user namespace count limit is reached";
  } else if (!privileged && p.flag == CLONE_NEWUSER) {
    hint = "unprivileged user namespaces are disabled or blocked (sysctl, AppArmor, or the "
           "container's seccomp profile)";
  } else {
    hint = "a security policy (container seccomp profile, LSM) refuses it";
  }
  return kj::str("the kernel refuses ", p.name, " (", p.config, ") with ",
                 strerrorname_np(failedErrno), ": ", hint, "; ", settings);
}

// ---- spawn ---------------------------------------------------------------------------------

SandboxedProcess spawnSandboxed(const SandboxHost& host, const SandboxPlan& plan, int fd3,
                                SpawnIo io) {
  KJ_REQUIRE(fcntl(fd3, F_GETFD) >= 0, "grain sandbox: fd3 is not an open descriptor", fd3);

  // 1. The grain's cgroup, with its limits, before the child exists.
  kj::Maybe<kj::Own<Cgroup>> cgroup;
  KJ_IF_MAYBE(root, host.cgroups()) {
    cgroup = Cgroup::create(*root, plan.grainId, plan.limits);
  } else {
    if (plan.requireCgroup) {
      failWith(kj::str("grain sandbox: no usable cgroup hierarchy for resource limits (",
                       host.noCgroupReason(), ")"));
    }
  }

  // 2. Everything the child needs, as plain C data (it must not allocate).
  auto argv = kj::heapArray<const char*>(plan.argv.size() + 1);
  for (size_t i = 0; i < plan.argv.size(); i++) argv[i] = plan.argv[i].cStr();
  argv[plan.argv.size()] = nullptr;
  auto envp = kj::heapArray<const char*>(plan.env.size() + 1);
  for (size_t i = 0; i < plan.env.size(); i++) envp[i] = plan.env[i].cStr();
  envp[plan.env.size()] = nullptr;
  auto shadowed = kj::heapArray<const char*>(plan.shadowed.size());
  for (size_t i = 0; i < plan.shadowed.size(); i++) shadowed[i] = plan.shadowed[i].cStr();
  auto binds = kj::heapArray<ChildBind>(plan.extraBinds.size());
  for (size_t i = 0; i < plan.extraBinds.size(); i++) {
    binds[i] = ChildBind{plan.extraBinds[i].source.cStr(), plan.extraBinds[i].target.cStr()};
  }

  auto go = makePipe(false);
  auto err = makePipe(false);

  ChildContext ctx;
  memset(&ctx, 0, sizeof(ctx));
  ctx.goRead = go.first.get();
  ctx.goWriteParentEnd = go.second.get();
  ctx.errWrite = err.second.get();
  ctx.errReadParentEnd = err.first.get();
  ctx.fd3 = fd3;
  ctx.stdoutFd = io.stdoutFd;
  ctx.stderrFd = io.stderrFd;
  ctx.packageDir = plan.packageDir.cStr();
  ctx.varDir = plan.varDir.cStr();
  ctx.stagingDir = host.stagingDir.cStr();
  ctx.shadowed = shadowed.begin();
  ctx.shadowedCount = shadowed.size();
  ctx.binds = binds.begin();
  ctx.bindCount = binds.size();
  snprintf(ctx.rootOptions, sizeof(ctx.rootOptions), "size=%llu,nr_inodes=%llu,mode=0755",
           (unsigned long long)limits::ROOT_SKELETON_BYTES,
           (unsigned long long)limits::ROOT_SKELETON_INODES);
  snprintf(ctx.devOptions, sizeof(ctx.devOptions), "size=%llu,nr_inodes=32,mode=0755",
           (unsigned long long)limits::DEV_BYTES);
  snprintf(ctx.shmOptions, sizeof(ctx.shmOptions), "size=%llu,nr_inodes=%llu,mode=1777",
           (unsigned long long)limits::SHM_BYTES, (unsigned long long)limits::TMP_INODES);
  snprintf(ctx.tmpOptions, sizeof(ctx.tmpOptions), "size=%llu,nr_inodes=%llu,mode=1777",
           (unsigned long long)plan.limits.tmpBytes, (unsigned long long)limits::TMP_INODES);
  ctx.argv = argv.begin();
  ctx.envp = envp.begin();
  ctx.seccomp = host.seccomp().fprog();
  if (plan.initIsBridge) {
    KJ_IF_MAYBE(bridge, host.bridgeSeccomp) ctx.seccomp = bridge->fprog();
  }
  ctx.dropSupplementaryGroups = host.privileged();
  ctx.grainUid = limits::GRAIN_UID;
  ctx.grainGid = limits::GRAIN_GID;
  ctx.nofileSoft = limits::NOFILE_SOFT;
  ctx.nofileHard = limits::NOFILE_HARD;

  // 3. clone3: new namespaces, a pidfd, and on cgroup v2 straight into the grain's cgroup.
  int pidfd = -1;
  CloneArgs args;
  memset(&args, 0, sizeof(args));
  args.flags = CLONE_PIDFD | NAMESPACE_FLAGS;
  args.pidfd = reinterpret_cast<uintptr_t>(&pidfd);
  args.exitSignal = SIGCHLD;
  KJ_IF_MAYBE(c, cgroup) {
    if ((*c)->cloneIntoFd() >= 0) {
      args.flags |= CLONE_INTO_CGROUP;
      args.cgroup = static_cast<uint64_t>((*c)->cloneIntoFd());
    }
  }
  long result = syscall(SYS_clone3, &args, sizeof(args));
  if (result == 0) {
    runChild(ctx);  // never returns
  }
  if (result < 0) {
    int error = errno;
    failWith(kj::str("grain sandbox: cannot create namespaces: ",
                     diagnoseNamespaceFailure(error, host.privileged())));
  }
  pid_t pid = static_cast<pid_t>(result);
  kj::AutoCloseFd ownedPidfd(pidfd);
  go.first = nullptr;
  err.second = nullptr;

  // 4. Map the grain's uid/gid 1000 to the host ids; join the v1 cgroups; release the child.
  //    Any failure here kills the child before it has run a single step past the wait.
  try {
    uint32_t hostUid = host.privileged() ? plan.hostUid : geteuid();
    uint32_t hostGid = host.privileged() ? plan.hostGid : getegid();
    if (!host.privileged()) {
      // Required before an unprivileged gid_map write; it also keeps the grain from dropping
      // the daemon user's groups to read files those groups deny.
      writeProcFile(pid, "setgroups", "deny\n");
    }
    writeProcFile(pid, "uid_map", kj::str(limits::GRAIN_UID, " ", hostUid, " 1\n"));
    writeProcFile(pid, "gid_map", kj::str(limits::GRAIN_GID, " ", hostGid, " 1\n"));
    KJ_IF_MAYBE(c, cgroup) {
      if ((*c)->cloneIntoFd() < 0) (*c)->addProcess(pid);
    }
    char byte = 1;
    KJ_SYSCALL(write(go.second.get(), &byte, 1));
  } catch (...) {
    killAndReap(pid, ownedPidfd.get());
    throw;
  }

  // 5. Wait for exec (EOF) or the child's failure message.
  char message[limits::CHILD_ERROR_BYTES + 1];
  size_t length = 0;
  for (;;) {
    ssize_t n = read(err.first.get(), message + length, limits::CHILD_ERROR_BYTES - length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    length += n;
    if (length == limits::CHILD_ERROR_BYTES) break;
  }
  if (length > 0) {
    killAndReap(pid, ownedPidfd.get());
    message[length] = '\0';
    failWith(kj::str("grain sandbox setup failed: ", message));
  }
  return SandboxedProcess(pid, kj::mv(ownedPidfd), kj::mv(cgroup));
}

SandboxedProcess spawnSandboxed(const SandboxPlan& plan, int fd3, SpawnIo io) {
  static const SandboxHost host = SandboxHost::detect();
  return spawnSandboxed(host, plan, fd3, io);
}

}  // namespace ss::sandbox
