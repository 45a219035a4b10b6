// The seccomp policy table and the compiled filter, checked without root: the filter is
// installed in a forked child (no_new_privs needs no privilege).
#include "sandbox/seccomp.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <seccomp.h>
#include <set>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/seccomp-policy.h"
#include "tests/test-support.h"

namespace ss::sandbox {
namespace {

TEST_CASE("the policy table is consistent with libseccomp's syscall names", "[sandbox][seccomp]") {
  std::set<long> seen;
  for (auto& p : GRAIN_SYSCALLS) {
    CAPTURE(p.name);
    CHECK(seen.insert(p.nr).second);  // no duplicates
    int resolved = seccomp_syscall_resolve_name(p.name);
    if (resolved != __NR_SCMP_ERROR) CHECK(resolved == p.nr);
    CHECK(std::string(p.why).size() > 0);
  }
}

TEST_CASE("dangerous syscalls are not in the allowlist", "[sandbox][seccomp]") {
  for (long nr : {(long)SYS_io_uring_setup, (long)SYS_io_uring_enter, (long)SYS_io_uring_register,
                  (long)SYS_ptrace, (long)SYS_process_vm_readv, (long)SYS_process_vm_writev,
                  (long)SYS_bpf, (long)SYS_perf_event_open, (long)SYS_keyctl, (long)SYS_add_key,
                  (long)SYS_request_key, (long)SYS_mount, (long)SYS_umount2, (long)SYS_fsopen,
                  (long)SYS_fsmount, (long)SYS_move_mount, (long)SYS_open_tree,
                  (long)SYS_mount_setattr, (long)SYS_unshare, (long)SYS_setns, (long)SYS_clone3,
                  (long)SYS_userfaultfd, (long)SYS_kexec_load, (long)SYS_init_module,
                  (long)SYS_finit_module, (long)SYS_splice, (long)SYS_vmsplice, (long)SYS_tee,
                  (long)SYS_memfd_create, (long)SYS_pidfd_getfd, (long)SYS_open_by_handle_at}) {
    CAPTURE(nr);
    auto* p = findSyscallPolicy(nr);
    CHECK((p == nullptr || p->rule == SyscallRule::ERRNO));
  }
}

// Installs the filter in a child and returns what `call` reports (errno name or "OK").
template <typename Fn>
std::string underFilter(const SeccompProgram& program, Fn call) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    auto prog = program.fprog();
    if (installSeccomp(prog) < 0) _exit(1);
    long rc = call();
    const char* name = rc < 0 ? strerrorname_np(errno) : "OK";
    ssize_t ignored = write(p[1], name, strlen(name));
    (void)ignored;
    _exit(0);
  }
  close(p[1]);
  char buffer[64] = {};
  ssize_t n = read(p[0], buffer, sizeof(buffer) - 1);
  (void)n;
  close(p[0]);
  waitpid(pid, nullptr, 0);
  return buffer;
}

TEST_CASE("the compiled filter answers as the policy says", "[sandbox][seccomp]") {
  auto program = compileGrainFilter();
  CHECK(program.instructionCount() > 100);
  CHECK(underFilter(program, [] { return syscall(SYS_getpid); }) == "OK");
  char params[sizeof(io_uring_params)] = {};
  CHECK(underFilter(program, [&] { return syscall(SYS_io_uring_setup, 8, params); }) ==
        "ENOSYS");
  CHECK(underFilter(program, [] { return syscall(SYS_clone3, nullptr, 0); }) == "ENOSYS");
  CHECK(underFilter(program, [] {
          return syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        }) == "EPERM");
  CHECK(underFilter(program, [] { return syscall(SYS_ptrace, 0, 0, 0, 0); }) == "EPERM");
  CHECK(underFilter(program, [] { return (long)socket(AF_NETLINK, SOCK_RAW, 0); }) ==
        "EAFNOSUPPORT");
  CHECK(underFilter(program, [] { return (long)socket(AF_INET, SOCK_RAW, 1); }) == "EACCES");
  CHECK(underFilter(program, [] { return (long)socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); })
        == "OK");
  CHECK(underFilter(program, [] { return (long)prctl(PR_SET_SECCOMP, 2, 0, 0, 0); }) == "EINVAL");
  CHECK(underFilter(program, [] { return (long)prctl(PR_SET_NAME, "x", 0, 0, 0); }) == "OK");
  CHECK(underFilter(program, [] { return syscall(SYS_personality, 0x0400000); }) == "ENOSYS");
  // x32 entry point of an allowed call: still refused (no ABI bypass).
  CHECK(underFilter(program, [] { return syscall(0x40000000L | SYS_getpid); }) == "ENOSYS");
}

}  // namespace
}  // namespace ss::sandbox
