// The sandbox child's setup, top to bottom. Runs between clone3 (already in new user, mount,
// pid, net, ipc and uts namespaces) and execve. Each step is one function; each security step
// is followed by a check that it holds (STYLE (b) 13), and any failure ends the child with a
// message naming the step (child.h).
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "sandbox/child.h"
#include "sandbox/limits.h"
#include "sandbox/seccomp.h"

namespace ss::sandbox {

namespace {

// Where failures are reported. Starts as ctx.errWrite; arrangeFds() moves it.
int errorFd = -1;

#define CHILD_CHECK(call, step, detail)                    \
  do {                                                     \
    if ((call) < 0) childFail(ctx, step, errno, detail);   \
  } while (false)

void resetSignals(const ChildContext& ctx) {
  // The daemon blocks SIGTERM/SIGINT/SIGHUP for its signalfd and may have handlers installed;
  // handlers survive a fork but the daemon's code must never run here, so dispositions go
  // back to default before the mask is cleared. (glibc refuses its two internal signals.)
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  CHILD_CHECK(sigprocmask(SIG_SETMASK, &none, nullptr), "reset signal mask", nullptr);
}

void dieWithParent(const ChildContext& ctx) {
  // SIGKILL when the daemon (our parent thread) dies; our own pid namespace then takes every
  // grain process with us (P-8). Credential changes clear this setting, so
  // becomeGrainUser() sets it again.
  CHILD_CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL), "set parent-death signal", nullptr);
}

void waitForParent(const ChildContext& ctx) {
  // The parent writes our uid/gid maps and (cgroup v1) puts us in the grain cgroup, then
  // sends one byte. Until then we are unmapped (nobody) and outside the limits.
  char go;
  ssize_t n;
  do {
    n = read(ctx.goRead, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) childFail(ctx, "wait for parent", n < 0 ? errno : EPIPE, "parent went away");
}

void enterCgroupNamespace(const ChildContext& ctx) {
  // Now that we are in the grain's cgroup, a cgroup namespace rooted there hides the host's
  // cgroup paths (were /proc ever visible, /proc/self/cgroup would read "/").
  CHILD_CHECK(unshare(CLONE_NEWCGROUP), "enter cgroup namespace", nullptr);
}

void bringUpLoopback(const ChildContext& ctx) {
  // The new network namespace has only `lo`, down. Up, it carries 127.0.0.1 and ::1: the
  // bridge talks to the app there. There is no other interface and no route anywhere.
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) childFail(ctx, "loopback socket", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strcpy(ifr.ifr_name, "lo");
  CHILD_CHECK(ioctl(s, SIOCGIFFLAGS, &ifr), "read lo flags", nullptr);
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  CHILD_CHECK(ioctl(s, SIOCSIFFLAGS, &ifr), "bring up lo", nullptr);
  CHILD_CHECK(ioctl(s, SIOCGIFFLAGS, &ifr), "check lo", nullptr);
  if (!(ifr.ifr_flags & IFF_UP)) childFail(ctx, "check lo", EIO, "lo is still down");
  close(s);
}

void setHostname(const ChildContext& ctx) {
  CHILD_CHECK(sethostname("sandbox", 7), "set hostname", nullptr);
  CHILD_CHECK(setdomainname("sandbox", 7), "set domain name", nullptr);
  struct utsname u;
  CHILD_CHECK(uname(&u), "check hostname", nullptr);
  if (strcmp(u.nodename, "sandbox") != 0) childFail(ctx, "check hostname", EIO, u.nodename);
}

void becomeGrainUser(const ChildContext& ctx) {
  // As root's child we still carry host uid 0 (unmapped here, so it shows as "nobody") and
  // root's supplementary groups, which would still count in permission checks on host files.
  // Drop the groups, then take the one mapped uid/gid. Our capabilities (in the new user
  // namespace only, needed for the mounts) survive this because the namespace has no uid 0
  // for the kernel's setuid fixup to act on; they go in dropCapabilities().
  if (ctx.dropSupplementaryGroups) {
    CHILD_CHECK(setgroups(0, nullptr), "drop supplementary groups", nullptr);
  }
  CHILD_CHECK(setresgid(ctx.grainGid, ctx.grainGid, ctx.grainGid), "setresgid", nullptr);
  CHILD_CHECK(setresuid(ctx.grainUid, ctx.grainUid, ctx.grainUid), "setresuid", nullptr);
  uid_t r, e, s;
  gid_t gr, ge, gs;
  CHILD_CHECK(getresuid(&r, &e, &s), "check uid", nullptr);
  CHILD_CHECK(getresgid(&gr, &ge, &gs), "check gid", nullptr);
  if (r != ctx.grainUid || e != ctx.grainUid || s != ctx.grainUid || gr != ctx.grainGid ||
      ge != ctx.grainGid || gs != ctx.grainGid) {
    childFail(ctx, "check uid/gid", EIO, "ids did not change");
  }
  if (ctx.dropSupplementaryGroups && getgroups(0, nullptr) != 0) {
    childFail(ctx, "check groups", EIO, "supplementary groups remain");
  }

  // The uid change cleared the parent-death signal: set it again, then make sure the parent
  // did not die in between (its end of the go pipe is open until we exec).
  dieWithParent(ctx);
  struct pollfd p = {ctx.goRead, POLLIN, 0};
  if (poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR))) {
    childFail(ctx, "check parent", EPIPE, "parent died during setup");
  }
}

void arrangeFds(const ChildContext& ctx) {
  // fds 0-3 become /dev/null, log, log, the capnp socket; everything else is closed (runc
  // CVE-2024-21626: one leaked directory fd is a way out of any mount namespace). First park
  // what we keep at >= 10 so the dup2s below cannot clobber each other.
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) childFail(ctx, "open /dev/null", errno);
  auto park = [&](int fd) {
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    if (moved < 0) childFail(ctx, "move fd", errno);
    return moved;
  };
  int sock = park(ctx.fd3);
  int out = park(ctx.stdoutFd >= 0 ? ctx.stdoutFd : devnull);
  int err = park(ctx.stderrFd >= 0 ? ctx.stderrFd : devnull);
  int nul = park(devnull);
  errorFd = park(errorFd);
  // dup2 clears FD_CLOEXEC on the target: exactly 0-3 survive the exec.
  CHILD_CHECK(dup2(nul, 0), "dup2 stdin", nullptr);
  CHILD_CHECK(dup2(out, 1), "dup2 stdout", nullptr);
  CHILD_CHECK(dup2(err, 2), "dup2 stderr", nullptr);
  CHILD_CHECK(dup2(sock, 3), "dup2 fd 3", nullptr);
  CHILD_CHECK(close_range(4, errorFd - 1, 0), "close fds", nullptr);
  CHILD_CHECK(close_range(errorFd + 1, ~0U, 0), "close fds", nullptr);

  // Check: 0-3 open and inheritable; 4 is free; only the error pipe remains, close-on-exec.
  for (int fd = 0; fd <= 3; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || (flags & FD_CLOEXEC)) childFail(ctx, "check fds", EIO, "0-3 not inherited");
  }
  if (fcntl(4, F_GETFD) >= 0 || !(fcntl(errorFd, F_GETFD) & FD_CLOEXEC)) {
    childFail(ctx, "check fds", EIO, "unexpected fd survives");
  }
}

void setResourceLimits(const ChildContext& ctx) {
  struct rlimit nofile = {ctx.nofileSoft, ctx.nofileHard};
  CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &nofile), "limit open files", nullptr);
  // No core dumps: a crashing app must not fill /var with them (F-8).
  struct rlimit core = {0, 0};
  CHILD_CHECK(setrlimit(RLIMIT_CORE, &core), "disable core dumps", nullptr);
}

void dropCapabilities(const ChildContext& ctx) {
  // Lock the "root is special" rules off for good, so nothing can re-derive capabilities from
  // uid 0 (there is no uid 0 here anyway) or raise ambient ones.
  CHILD_CHECK(prctl(PR_SET_SECUREBITS,
                    SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                        SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                        SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED),
              "lock securebits", nullptr);
  // Bounding set: everything the kernel knows (EINVAL marks the end of its list).
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break;
      childFail(ctx, "drop bounding capability", errno);
    }
  }
  CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient caps",
              nullptr);
  // Effective, permitted and inheritable: all empty.
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  memset(data, 0, sizeof(data));
  CHILD_CHECK(syscall(SYS_capset, &header, data), "capset", nullptr);

  // Check by reading every set back.
  memset(data, 0xff, sizeof(data));
  CHILD_CHECK(syscall(SYS_capget, &header, data), "check caps", nullptr);
  for (auto& d : data) {
    if (d.effective || d.permitted || d.inheritable) {
      childFail(ctx, "check caps", EIO, "capability sets not empty");
    }
  }
  for (int cap = 0; cap < 64; cap++) {
    int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (r < 0) break;
    if (r != 0) childFail(ctx, "check caps", EIO, "bounding set not empty");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0) {
      childFail(ctx, "check caps", EIO, "ambient set not empty");
    }
  }
}

void setNoNewPrivs(const ChildContext& ctx) {
  // No setuid/file-capability gains on exec, ever (also required for seccomp without
  // CAP_SYS_ADMIN).
  CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs", nullptr);
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
    childFail(ctx, "check no_new_privs", EIO, "not set");
  }
}

void installFilter(const ChildContext& ctx) {
  int r = installSeccomp(ctx.seccomp);
  if (r < 0) childFail(ctx, "install seccomp filter", -r);
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2) {
    childFail(ctx, "check seccomp", EIO, "filter mode not active");
  }
}

}  // namespace

void childFail(const ChildContext& ctx, const char* step, int error, const char* detail) {
  char message[limits::CHILD_ERROR_BYTES];
  const char* name = strerrorname_np(error);
  int len = snprintf(message, sizeof(message), "%s%s%s: %s (%s)", step, detail ? ": " : "",
                     detail ? detail : "", strerrordesc_np(error), name ? name : "?");
  if (len > static_cast<int>(sizeof(message)) - 1) len = sizeof(message) - 1;
  if (len > 0 && errorFd >= 0) {
    ssize_t ignored = write(errorFd, message, len);
    (void)ignored;
  }
  _exit(127);
}

void runChild(const ChildContext& ctx) {
  errorFd = ctx.errWrite;
  close(ctx.goWriteParentEnd);
  close(ctx.errReadParentEnd);

  // 1. Signals: default dispositions, empty mask, die with the daemon.
  resetSignals(ctx);
  dieWithParent(ctx);
  // 2. Wait until the parent has mapped our uid/gid and placed us in the grain cgroup.
  waitForParent(ctx);
  // 3. Cgroup namespace rooted at the grain's cgroup.
  enterCgroupNamespace(ctx);
  // 4. The grain's one uid/gid, no supplementary groups. Before the mounts: tmpfs mounted in
  //    our user namespace only accepts inodes created by a mapped uid (else EOVERFLOW), and
  //    host paths are then opened with the grain's host uid, never root's.
  becomeGrainUser(ctx);
  // 5. File system: skeleton root, package binds, /dev, /var, /tmp; pivot_root; old root gone.
  setupFilesystem(ctx);
  // 6. Network: loopback only.
  bringUpLoopback(ctx);
  // 7. Host name "sandbox".
  setHostname(ctx);
  // 8. Exactly fds 0-3 survive the exec.
  arrangeFds(ctx);
  // 9. Open-file and core limits (memory, pids and CPU are the cgroup's job).
  setResourceLimits(ctx);
  // 10. No capabilities: bounding, ambient, inheritable, permitted, effective.
  dropCapabilities(ctx);
  // 11. no_new_privs.
  setNoNewPrivs(ctx);
  // 12. umask: one uid inside, so 022 protects nothing but surprises nobody.
  umask(022);
  // 13. seccomp, last: it forbids mount, unshare and capset-style calls used above.
  installFilter(ctx);
  // 14. exec. argv[0] is absolute inside the grain root; no PATH search, no shell.
  execve(ctx.argv[0], const_cast<char* const*>(ctx.argv), const_cast<char* const*>(ctx.envp));
  childFail(ctx, "execve", errno, ctx.argv[0]);
}

}  // namespace ss::sandbox
