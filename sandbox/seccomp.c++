#include "sandbox/seccomp.h"

#include <sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <unistd.h>

#include <kj/debug.h>

#include "base/fd.h"
#include "base/syscall.h"
#include "sandbox/seccomp-policy.h"

namespace ss::sandbox {

sock_fprog SeccompProgram::fprog() const {
  return sock_fprog{
      .len = static_cast<unsigned short>(code.size()),
      .filter = const_cast<sock_filter*>(code.begin()),
  };
}

int installSeccomp(const sock_fprog& program) {
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program);
  return r < 0 ? -errno : 0;
}

namespace {

struct Filter {
  scmp_filter_ctx ctx;
  Filter() : ctx(seccomp_init(SCMP_ACT_ERRNO(ENOSYS))) {
    KJ_REQUIRE(ctx != nullptr, "seccomp_init failed");
  }
  ~Filter() { seccomp_release(ctx); }
  KJ_DISALLOW_COPY(Filter);

  template <typename... Args>
  void add(uint32_t action, long nr, Args... conditions) {
    SS_CHECK_NEG(seccomp_rule_add(ctx, action, static_cast<int>(nr), sizeof...(Args),
                                  conditions...),
                 nr);
  }
};

// clone(2) flags an app may use: fork, vfork, posix_spawn and pthread_create. Everything
// that creates namespaces or attaches tracers is refused with EPERM (below); unknown bits
// fall to the default ENOSYS. clone3 is not listed at all, so it gets ENOSYS and glibc falls
// back to clone, whose flags (unlike clone3's struct) the filter can read.
constexpr uint64_t ALLOWED_CLONE_FLAGS =
    CSIGNAL | CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_PARENT | CLONE_THREAD |
    CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID |
    CLONE_CHILD_SETTID | CLONE_VFORK | CLONE_DETACHED;
constexpr uint64_t DENIED_CLONE_FLAGS[] = {
    CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_PTRACE, CLONE_UNTRACED, CLONE_PIDFD, CLONE_IO};

void addCloneRules(Filter& f) {
  f.add(SCMP_ACT_ALLOW, SYS_clone, SCMP_A0(SCMP_CMP_MASKED_EQ, ~ALLOWED_CLONE_FLAGS, 0));
  // libseccomp lets an unconditional rule override conditional ones, and overlapping rules
  // with different actions are ambiguous, so each EPERM rule matches only values the allow
  // rule cannot (they carry a bit outside ALLOWED_CLONE_FLAGS).
  for (auto flag : DENIED_CLONE_FLAGS) {
    f.add(SCMP_ACT_ERRNO(EPERM), SYS_clone, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
  }
}

void addSocketRules(Filter& f) {
  // Families: UNIX, INET, INET6. Everything else (NETLINK, PACKET, ALG, VSOCK, KEY,
  // BLUETOOTH, XDP, ...) is EAFNOSUPPORT, which libraries read as "not on this system".
  for (scmp_datum_t family = 0; family <= 64; family++) {
    if (family == AF_UNIX || family == AF_INET || family == AF_INET6) continue;
    f.add(SCMP_ACT_ERRNO(EAFNOSUPPORT), SYS_socket, SCMP_A0(SCMP_CMP_EQ, family));
  }
  f.add(SCMP_ACT_ERRNO(EAFNOSUPPORT), SYS_socket, SCMP_A0(SCMP_CMP_GT, 64));

  // Types (low 4 bits; the rest are SOCK_NONBLOCK/SOCK_CLOEXEC): stream and datagram only.
  // Protocols: 0 or the one that type implies. That keeps SCTP, DCCP (CVE-2017-6074), raw
  // sockets and their module autoloading out of reach.
  struct Allowed { scmp_datum_t family, type, protocol; };
  constexpr Allowed allowed[] = {
      {AF_UNIX, SOCK_STREAM, 0},          {AF_UNIX, SOCK_DGRAM, 0},
      {AF_INET, SOCK_STREAM, 0},          {AF_INET, SOCK_STREAM, IPPROTO_TCP},
      {AF_INET, SOCK_DGRAM, 0},           {AF_INET, SOCK_DGRAM, IPPROTO_UDP},
      {AF_INET6, SOCK_STREAM, 0},         {AF_INET6, SOCK_STREAM, IPPROTO_TCP},
      {AF_INET6, SOCK_DGRAM, 0},          {AF_INET6, SOCK_DGRAM, IPPROTO_UDP},
  };
  for (auto& a : allowed) {
    f.add(SCMP_ACT_ALLOW, SYS_socket, SCMP_A0(SCMP_CMP_EQ, a.family),
          SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, a.type), SCMP_A2(SCMP_CMP_EQ, a.protocol));
  }
  for (scmp_datum_t family : {AF_UNIX, AF_INET, AF_INET6}) {
    for (scmp_datum_t type : {SOCK_RAW, SOCK_RDM, SOCK_SEQPACKET, SOCK_DCCP, SOCK_PACKET}) {
      f.add(SCMP_ACT_ERRNO(EACCES), SYS_socket, SCMP_A0(SCMP_CMP_EQ, family),
            SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, type));
    }
  }
  // socketpair exists only for AF_UNIX in the kernel anyway.
  for (scmp_datum_t type : {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET}) {
    f.add(SCMP_ACT_ALLOW, SYS_socketpair, SCMP_A0(SCMP_CMP_EQ, AF_UNIX),
          SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, type));
  }
}

void addIoctlRules(Filter& f) {
  // Compared on all 64 bits, so a request with high bits set (which the kernel truncates to
  // 32) never matches an allow rule: (0x123UL << 32) | TIOCSTI gets ENOSYS.
  for (unsigned long request :
       {FIONBIO, FIOCLEX, FIONCLEX, FIONREAD, FIOASYNC, TCGETS, TIOCGWINSZ}) {
    f.add(SCMP_ACT_ALLOW, SYS_ioctl, SCMP_A1(SCMP_CMP_EQ, request));
  }
  // Terminal injection and console takeover (K-16): ENOTTY, as if fd 0 were not a tty (it
  // is /dev/null anyway).
  for (unsigned long request : {TIOCSTI, TIOCLINUX, TIOCSETD, TIOCCONS}) {
    f.add(SCMP_ACT_ERRNO(ENOTTY), SYS_ioctl, SCMP_A1(SCMP_CMP_EQ, request));
  }
  // Reflink copies: cp --reflink=auto and node's copyFile fall back on EOPNOTSUPP.
  for (unsigned long request : {FICLONE, FICLONERANGE, FIDEDUPERANGE}) {
    f.add(SCMP_ACT_ERRNO(EOPNOTSUPP), SYS_ioctl, SCMP_A1(SCMP_CMP_EQ, request));
  }
}

void addPrctlRules(Filter& f) {
  for (scmp_datum_t option : {PR_SET_NAME, PR_GET_NAME, PR_SET_PDEATHSIG, PR_GET_PDEATHSIG,
                     PR_GET_DUMPABLE, PR_SET_DUMPABLE, PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS,
                     PR_SET_NO_NEW_PRIVS, PR_CAPBSET_READ, PR_GET_KEEPCAPS, PR_GET_SECUREBITS,
                     PR_SET_TIMERSLACK, PR_GET_TIMERSLACK, PR_SET_CHILD_SUBREAPER,
                     PR_GET_CHILD_SUBREAPER, 0x53564d41 /* PR_SET_VMA (glibc 2.38+) */}) {
    f.add(SCMP_ACT_ALLOW, SYS_prctl, SCMP_A0(SCMP_CMP_EQ, option));
  }
  // Stacking filters and rewriting mm fields: EINVAL, as Sandstorm answers PR_SET_SECCOMP.
  for (scmp_datum_t option : {PR_SET_SECCOMP, PR_SET_MM}) {
    f.add(SCMP_ACT_ERRNO(EINVAL), SYS_prctl, SCMP_A0(SCMP_CMP_EQ, option));
  }
}

void addPersonalityRules(Filter& f) {
  // Only the query (0xffffffff) and the default persona: READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE
  // and PER_LINUX32 weaken exploit mitigations.
  f.add(SCMP_ACT_ALLOW, SYS_personality, SCMP_A0(SCMP_CMP_EQ, 0xffffffffu));
  f.add(SCMP_ACT_ALLOW, SYS_personality, SCMP_A0(SCMP_CMP_EQ, PER_LINUX));
}

}  // namespace

SeccompProgram compileGrainFilter(FilterFor target) {
  Filter f;
  // Native x86-64 only: i386 (int 0x80) and x32 calls hit the bad-arch action. ENOSYS rather
  // than a kill so a probing runtime survives.
  SS_CHECK_NEG(seccomp_attr_set(f.ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS)));
  // We set no_new_privs ourselves (and check it) before installing.
  SS_CHECK_NEG(seccomp_attr_set(f.ctx, SCMP_FLTATR_CTL_NNP, 0));

  for (auto& p : GRAIN_SYSCALLS) {
    switch (p.rule) {
      case SyscallRule::ALLOW: f.add(SCMP_ACT_ALLOW, p.nr); break;
      case SyscallRule::ERRNO: f.add(SCMP_ACT_ERRNO(p.error), p.nr); break;
      case SyscallRule::ARGS: break;  // below
    }
  }
  addCloneRules(f);
  addSocketRules(f);
  addIoctlRules(f);
  addPrctlRules(f);
  addPersonalityRules(f);
  if (target == FilterFor::BRIDGE) {
    f.add(SCMP_ACT_ALLOW, SYS_splice);
    f.add(SCMP_ACT_ALLOW, SYS_seccomp, SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER));
  }

  // libseccomp 2.5 can only export to an fd; a memfd keeps it in memory.
  int memfd;
  KJ_SYSCALL(memfd = memfd_create("seccomp-bpf", MFD_CLOEXEC));
  kj::AutoCloseFd mem(memfd);
  SS_CHECK_NEG(seccomp_export_bpf(f.ctx, mem.get()));
  off_t size;
  KJ_SYSCALL(size = lseek(mem.get(), 0, SEEK_END));
  KJ_REQUIRE(size > 0 && size % sizeof(sock_filter) == 0, "seccomp export: odd size", size);
  auto code = kj::heapArray<sock_filter>(size / sizeof(sock_filter));
  ssize_t n;
  KJ_SYSCALL(n = pread(mem.get(), code.begin(), size, 0));
  KJ_REQUIRE(n == size, "seccomp export: short read");
  KJ_REQUIRE(code.size() < BPF_MAXINSNS, "seccomp filter too long", code.size());
  return SeccompProgram(kj::mv(code));
}

}  // namespace ss::sandbox
