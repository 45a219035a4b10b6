// sandbox-probe: runs inside a real grain sandbox and tries each escape of the battery in
// facts/security.md §2, printing one JSON line per attempt to stdout:
//   {"id":"F-2a","result":"EROFS","detail":"open /program O_WRONLY"}
// "result" is an errno name, "OK" for success, or a short value. The host-side test
// (battery-test.c++) compares every row with its expected outcome. Static, so a test package
// needs nothing but this file.
//
// Modes (argv[1]): battery (default), listen, forkbomb [hold], threadbomb, memhog <MiB>,
// diskfill, fds, mark, sleep, euid, true.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>
#include <grp.h>
#include <stddef.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "sandbox/seccomp-policy.h"

extern char** environ;

namespace {

using ss::sandbox::SyscallRule;

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

void row(const char* id, const std::string& result, const std::string& detail = "") {
  std::string line = "{\"id\":\"" + std::string(id) + "\",\"result\":\"" + jsonEscape(result) +
                     "\",\"detail\":\"" + jsonEscape(detail) + "\"}\n";
  ssize_t ignored = write(1, line.data(), line.size());
  (void)ignored;
}

std::string errName(int e) {
  if (e == 0) return "OK";
  const char* n = strerrorname_np(e);
  return n ? n : std::to_string(e);
}

// Result of a call returning -1/errno.
std::string res(long rc) { return rc < 0 ? errName(errno) : "OK"; }

// Several attempts that should all give the same result: that result, else "a=X b=Y".
struct Multi {
  std::vector<std::pair<std::string, std::string>> parts;
  void add(const std::string& what, const std::string& result) { parts.push_back({what, result}); }
  std::string result() const {
    bool same = true;
    for (auto& p : parts) same = same && p.second == parts[0].second;
    if (same && !parts.empty()) return parts[0].second;
    std::string out;
    for (auto& p : parts) out += p.first + "=" + p.second + " ";
    return out;
  }
  std::string detail() const {
    std::string out;
    for (auto& p : parts) out += p.first + " ";
    return out;
  }
  void emit(const char* id) const { row(id, result(), detail()); }
};

// Runs `fn` in a forked child (for attempts that might crash, block or succeed dangerously);
// returns the int the child reported, or "SIGxxx"/"timeout"/"exit N".
template <typename Fn>
std::string inChild(Fn fn, int timeoutMs = 500) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return "pipe " + errName(errno);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    std::string r = fn();
    ssize_t ignored = write(p[1], r.data(), r.size());
    (void)ignored;
    _exit(0);
  }
  close(p[1]);
  std::string out;
  struct pollfd pf = {p[0], POLLIN, 0};
  bool timedOut = false;
  for (;;) {
    int n = poll(&pf, 1, timeoutMs);
    if (n == 0) { timedOut = true; break; }
    char buf[256];
    ssize_t r = read(p[0], buf, sizeof(buf));
    if (r <= 0) break;
    out.append(buf, r);
  }
  close(p[0]);
  if (timedOut) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!out.empty()) return out;
  if (timedOut) return "timeout";
  if (WIFSIGNALED(status)) return sigabbrev_np(WTERMSIG(status)) ? std::string("SIG") + sigabbrev_np(WTERMSIG(status)) : "signal";
  return "exit " + std::to_string(WEXITSTATUS(status));
}

const char* env(const char* name, const char* fallback = "") {
  const char* v = getenv(name);
  return v ? v : fallback;
}

// ---- 2.1 seccomp and kernel attack surface ----

void censusK1() {
  // Every syscall number, poisoned arguments (-1: bad fd, bad pointer, bad flags), each in a
  // child. Reaching the kernel gives anything but ENOSYS (or the filter's specific errno).
  std::string mismatches;
  int checked = 0;
  for (long nr = 0; nr < 480; nr++) {
    auto* policy = ss::sandbox::findSyscallPolicy(nr);
    if (policy && policy->rule == SyscallRule::ARGS) continue;  // K-7, K-16.. cover these
    if (nr == SYS_vfork || nr == SYS_clone3) continue;          // would share our stack / K-8
    checked++;
    std::string r = inChild([nr] {
      // futex rejects an unknown op with ENOSYS itself; FUTEX_WAIT on a bad address cannot.
      long op = nr == SYS_futex ? 0 : -1L;
      long rc = syscall(nr, -1L, op, -1L, -1L, -1L, -1L);
      return rc < 0 ? errName(errno) : std::string("OK");
    }, 200);
    bool ok;
    if (policy == nullptr) {
      ok = r == "ENOSYS";
    } else if (policy->rule == SyscallRule::ERRNO) {
      ok = r == errName(policy->error);
    } else {
      ok = r != "ENOSYS";
    }
    if (!ok) mismatches += std::to_string(nr) + ":" + r + " ";
  }
  row("K-1", mismatches.empty() ? "match" : "mismatch",
      mismatches.empty() ? std::to_string(checked) + " numbers checked" : mismatches);
}

long int80(long nr, long a, long b, long c) {
  long ret;
  asm volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

void kernelSurface() {
  Multi k2;
  for (long nr : {(long)SYS_mount, (long)SYS_ptrace, (long)SYS_keyctl, (long)SYS_bpf,
                  (long)SYS_io_uring_setup}) {
    k2.add(std::to_string(nr), res(syscall(0x40000000L | nr, 0, 0, 0, 0, 0, 0)));
  }
  k2.emit("K-2");

  Multi k3;  // i386 numbers: mount 21, ptrace 26, socketcall 102
  for (long nr : {21L, 26L, 102L}) {
    k3.add("i386:" + std::to_string(nr), inChild([nr] {
             long r = int80(nr, 0, 0, 0);
             return r < 0 ? errName(static_cast<int>(-r)) : std::string("OK");
           }));
  }
  k3.emit("K-3");

  Multi k4;
  k4.add("mount", res(mount("none", "/tmp", "tmpfs", 0, nullptr)));
  k4.add("umount2", res(umount2("/", MNT_DETACH)));
  k4.add("pivot_root", res(syscall(SYS_pivot_root, "/tmp", "/tmp")));
  k4.add("chroot", res(chroot("/")));
  k4.emit("K-4");

  Multi k5;
  for (long nr : {(long)SYS_fsopen, (long)SYS_fsmount, (long)SYS_move_mount, (long)SYS_open_tree,
                  (long)SYS_mount_setattr, (long)SYS_fspick, (long)SYS_fsconfig}) {
    k5.add(std::to_string(nr), res(syscall(nr, 0, 0, 0, 0, 0)));
  }
  k5.emit("K-5");

  Multi k6;
  k6.add("user", res(unshare(CLONE_NEWUSER)));
  k6.add("ns|net", res(unshare(CLONE_NEWNS | CLONE_NEWNET)));
  k6.emit("K-6");

  Multi k7;
  for (long flag : {(long)CLONE_NEWUSER, (long)CLONE_NEWPID, (long)CLONE_NEWNET,
                    (long)CLONE_NEWNS}) {
    long r = syscall(SYS_clone, flag | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) waitpid(static_cast<pid_t>(r), nullptr, 0);
    k7.add(std::to_string(flag), res(r));
  }
  k7.emit("K-7");

  struct { uint64_t flags, pidfd, ct, pt, sig, stack, size, tls, st, sts, cg; } args{};
  args.sig = SIGCHLD;
  long r8 = syscall(SYS_clone3, &args, sizeof(args));
  if (r8 == 0) _exit(0);
  if (r8 > 0) waitpid(static_cast<pid_t>(r8), nullptr, 0);
  row("K-8", res(r8), "clone3");

  Multi k9;
  k9.add("setns", res(syscall(SYS_setns, 0, 0)));
  k9.add("pidfd_open", res(syscall(SYS_pidfd_open, 1, 0)));
  k9.add("pidfd_getfd", res(syscall(SYS_pidfd_getfd, 0, 0, 0)));
  k9.add("pidfd_send_signal", res(syscall(SYS_pidfd_send_signal, 0, 0, 0, 0)));
  k9.emit("K-9");

  Multi k10;
  k10.add("traceme", res(syscall(SYS_ptrace, 0 /*PTRACE_TRACEME*/, 0, 0, 0)));
  k10.add("attach1", res(syscall(SYS_ptrace, 16 /*PTRACE_ATTACH*/, 1, 0, 0)));
  k10.emit("K-10a");
  Multi k10b;
  k10b.add("process_vm_readv", res(syscall(SYS_process_vm_readv, 1, 0, 0, 0, 0, 0)));
  k10b.add("process_vm_writev", res(syscall(SYS_process_vm_writev, 1, 0, 0, 0, 0, 0)));
  k10b.add("kcmp", res(syscall(SYS_kcmp, 1, 1, 0, 0, 0)));
  k10b.emit("K-10b");
  row("K-10c", std::to_string(getppid()), "getppid of the grain's init");

  Multi k11;
  k11.add("keyctl", res(syscall(SYS_keyctl, 0, 0, 0, 0, 0)));
  k11.add("add_key", res(syscall(SYS_add_key, "user", "x", "y", 1, -3)));
  k11.add("request_key", res(syscall(SYS_request_key, "user", "x", 0, 0)));
  k11.emit("K-11");

  Multi k12;
  k12.add("bpf", res(syscall(SYS_bpf, 5 /*BPF_PROG_LOAD*/, 0, 0)));
  k12.add("perf_event_open", res(syscall(SYS_perf_event_open, 0, 0, -1, -1, 0)));
  k12.add("userfaultfd", res(syscall(SYS_userfaultfd, 0)));
  k12.add("seccomp", res(syscall(SYS_seccomp, 1, 0, 0)));
  k12.emit("K-12a");
  row("K-12b", res(prctl(PR_SET_SECCOMP, 2, 0, 0, 0)), "prctl(PR_SET_SECCOMP)");

  Multi k13;
  char params[120] = {};
  k13.add("io_uring_setup", res(syscall(SYS_io_uring_setup, 8, params)));
  k13.add("io_uring_enter", res(syscall(SYS_io_uring_enter, 0, 0, 0, 0, 0, 0)));
  k13.add("io_uring_register", res(syscall(SYS_io_uring_register, 0, 0, 0, 0)));
  k13.add("io_setup", res(syscall(SYS_io_setup, 8, params)));
  k13.add("io_submit", res(syscall(SYS_io_submit, 0, 0, 0)));
  k13.emit("K-13");

  Multi k14;
  k14.add("modify_ldt", res(syscall(SYS_modify_ldt, 0, 0, 0)));
  k14.add("set_thread_area", res(syscall(SYS_set_thread_area, 0)));
  k14.add("READ_IMPLIES_EXEC", res(syscall(SYS_personality, 0x0400000)));
  k14.add("PER_LINUX32", res(syscall(SYS_personality, 0x0008)));
  k14.emit("K-14a");
  row("K-14b", res(syscall(SYS_personality, 0xffffffffUL)), "personality query");

  Multi k15;
  k15.add("splice", res(syscall(SYS_splice, 0, 0, 1, 0, 1, 0)));
  k15.add("vmsplice", res(syscall(SYS_vmsplice, 0, 0, 0, 0)));
  k15.add("tee", res(syscall(SYS_tee, 0, 1, 1, 0)));
  k15.emit("K-15");

  Multi k16;
  k16.add("TIOCSTI", res(ioctl(0, TIOCSTI, "x")));
  k16.add("TIOCLINUX", res(ioctl(0, TIOCLINUX, "x")));
  k16.add("TIOCSETD", res(ioctl(0, TIOCSETD, "x")));
  k16.add("TIOCCONS", res(ioctl(0, TIOCCONS, 0)));
  k16.emit("K-16a");
  row("K-16b", res(syscall(SYS_ioctl, 0, (0x123UL << 32) | TIOCSTI, "x")), "TIOCSTI|high bits");

  Multi k17;
  for (int family : {AF_PACKET, AF_NETLINK, 38 /*ALG*/, 40 /*VSOCK*/, 15 /*KEY*/,
                     31 /*BLUETOOTH*/, 44 /*XDP*/}) {
    k17.add("af" + std::to_string(family), res(socket(family, SOCK_RAW, 0)));
  }
  k17.emit("K-17");

  Multi k18;
  k18.add("inet_raw_icmp", res(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)));
  k18.add("inet_packet", res(socket(AF_INET, SOCK_PACKET, 0)));
  k18.add("inet_seqpacket", res(socket(AF_INET, SOCK_SEQPACKET, 0)));
  k18.add("inet_dccp", res(socket(AF_INET, SOCK_DCCP, 0)));
  k18.emit("K-18a");
  row("K-18b", res(socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP)), "stream+sctp");

  Multi k19;
  k19.add("mknod_chr", res(mknod("/var/x", S_IFCHR | 0666, makedev(1, 1))));
  k19.add("mknodat_blk", res(mknodat(AT_FDCWD, "/var/y", S_IFBLK | 0666, makedev(7, 0))));
  k19.emit("K-19");

  Multi k20;
  for (long nr : std::initializer_list<long>{
           SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_kexec_load,
           SYS_kexec_file_load, SYS_reboot, SYS_swapon, SYS_swapoff, SYS_acct, SYS_syslog,
           SYS_quotactl, SYS_settimeofday, SYS_clock_settime, SYS_adjtimex, SYS_sethostname,
           SYS_setdomainname, SYS_iopl, SYS_ioperm}) {
    k20.add(std::to_string(nr), res(syscall(nr, 0, 0, 0, 0, 0)));
  }
  k20.emit("K-20");

  Multi k21;
  k21.add("open_by_handle_at", res(syscall(SYS_open_by_handle_at, 0, 0, 0)));
  k21.add("name_to_handle_at", res(syscall(SYS_name_to_handle_at, 0, "/", 0, 0, 0)));
  k21.emit("K-21");

  // uid 0 does not exist in the grain's user namespace (EINVAL); the rest lack capabilities.
  Multi k22;
  k22.add("setuid0", res(setuid(0)));
  k22.add("setresuid0", res(setresuid(0, 0, 0)));
  k22.add("setuid_host", res(setuid(64999)));
  k22.emit("K-22a");
  Multi k22c;
  __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2] = {{0xffffffff, 0xffffffff, 0xffffffff}, {0xff, 0xff, 0xff}};
  k22c.add("capset", res(syscall(SYS_capset, &h, d)));
  k22c.add("setgroups", res(setgroups(0, nullptr)));
  k22c.emit("K-22c");
  row("K-22b", std::to_string(getuid()) + "/" + std::to_string(geteuid()) + "/" +
                   std::to_string(getgid()), "uid/euid/gid");

  // K-23: a setuid copy of ourselves in /var runs with an unchanged euid, and /var is nosuid.
  struct statvfs vfs;
  statvfs("/var", &vfs);
  row("K-23a", (vfs.f_flag & ST_NOSUID) ? "nosuid" : "suid-allowed", "/var mount flags");
  row("K-23b", inChild([] {
        int in = open("/program", O_RDONLY | O_CLOEXEC);
        int out = open("/var/suid-probe", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        if (in < 0 || out < 0) return std::string("copy ") + errName(errno);
        char buf[65536];
        ssize_t n;
        while ((n = read(in, buf, sizeof(buf))) > 0) {
          if (write(out, buf, n) != n) return std::string("write ") + errName(errno);
        }
        close(out);
        if (chmod("/var/suid-probe", 04755) < 0) return std::string("chmod ") + errName(errno);
        int p[2];
        if (pipe(p) < 0) return std::string("pipe");
        pid_t pid = fork();
        if (pid == 0) {
          dup2(p[1], 1);
          execl("/var/suid-probe", "/var/suid-probe", "euid", nullptr);
          _exit(126);
        }
        close(p[1]);
        char result[64] = {};
        ssize_t got = read(p[0], result, sizeof(result) - 1);
        waitpid(pid, nullptr, 0);
        unlink("/var/suid-probe");
        return got > 0 ? std::string(result, strcspn(result, "\n")) : std::string("no output");
      }, 3000), "euid after exec of a setuid copy");

  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(80);
  int s24 = socket(AF_INET, SOCK_STREAM, 0);
  row("K-24", res(bind(s24, reinterpret_cast<sockaddr*>(&any), sizeof(any))), "bind :80");
  close(s24);

  Multi k25;
  k25.add("shmget", res(syscall(SYS_shmget, 1234, 4096, 0)));
  k25.add("msgget", res(syscall(SYS_msgget, 1234, 0)));
  k25.add("semget", res(syscall(SYS_semget, 1234, 1, 0)));
  k25.add("mq_open", res(syscall(SYS_mq_open, "x", O_RDONLY, 0, 0)));
  k25.emit("K-25");

  Multi k26;
  k26.add("memfd_create", res(syscall(SYS_memfd_create, "x", 0)));
  k26.add("execveat", res(syscall(SYS_execveat, 0, "", 0, 0, 0x1000)));
  k26.emit("K-26");
}

// ---- 2.2 process, pid, uts ----

void processRows() {
  // P-1: kill(-1) from a grain process reaches only grain processes (not even our init).
  pid_t victim = fork();
  if (victim == 0) {
    for (;;) pause();
  }
  pid_t killer = fork();
  if (killer == 0) {
    kill(-1, SIGKILL);
    _exit(0);
  }
  int vs = 0, ks = 0;
  waitpid(killer, &ks, 0);
  waitpid(victim, &vs, 0);
  row("P-1", WIFSIGNALED(vs) && WTERMSIG(vs) == SIGKILL ? "contained" : "victim survived",
      "kill(-1,SIGKILL) from a child: sibling killed, init alive");

  pid_t hostPid = static_cast<pid_t>(atol(env("PROBE_HOST_PID", "0")));
  row("P-2a", res(kill(hostPid, 0)), "kill(host daemon pid, 0)");
  row("P-2b", inChild([] { return res(kill(1, 0)); }), "kill(1,0) from a child: own init");

  Multi p3;
  p3.add("/proc/self/mem", res(open("/proc/self/mem", O_RDONLY)));
  p3.add("/proc/1/environ", res(open("/proc/1/environ", O_RDONLY)));
  p3.add("/proc/self/fd", res(open("/proc/self/fd", O_RDONLY)));
  p3.add("/sys/kernel", res(open("/sys/kernel", O_RDONLY)));
  p3.emit("P-3");

  struct utsname u;
  uname(&u);
  row("P-4", std::string(u.nodename) + "/" + u.domainname, "nodename/domainname");

  std::vector<std::string> keys;
  for (char** e = environ; *e; e++) {
    const char* eq = strchr(*e, '=');
    keys.push_back(eq ? std::string(*e, eq - *e) : std::string(*e));
  }
  std::sort(keys.begin(), keys.end());
  std::string joined;
  for (auto& k : keys) joined += (joined.empty() ? "" : ",") + k;
  row("P-5", joined, "environment keys");
}

void fdRow() {
  std::string open;
  for (int fd = 0; fd < 4096; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) open += (open.empty() ? "" : ",") + std::to_string(fd);
  }
  struct stat s0, s3;
  fstat(0, &s0);
  fstat(3, &s3);
  bool devnull = S_ISCHR(s0.st_mode) && major(s0.st_rdev) == 1 && minor(s0.st_rdev) == 3;
  row("P-6", open, std::string("fd0=") + (devnull ? "/dev/null" : "other") +
                       " fd3=" + (S_ISSOCK(s3.st_mode) ? "socket" : "other"));
}

void cwdRow() {
  char cwd[256] = {};
  if (getcwd(cwd, sizeof(cwd)) == nullptr) strcpy(cwd, "?");
  struct stat root, parent;
  stat("/", &root);
  stat("/..", &parent);
  for (int i = 0; i < 100; i++) {
    if (chdir("..") < 0) break;
  }
  char after[256] = {};
  if (getcwd(after, sizeof(after)) == nullptr) strcpy(after, "?");
  bool same = root.st_ino == parent.st_ino && root.st_dev == parent.st_dev;
  row("P-7", std::string(cwd) + " " + (same ? "root-is-own-parent" : "escape") + " " + after,
      "cwd, /.. == /, cwd after 100x chdir(..)");
}

// ---- 2.3 file system ----

std::string listDir(const char* path) {
  DIR* d = opendir(path);
  if (d == nullptr) return errName(errno);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names.push_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  std::string out;
  for (auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

// Writes 1 MiB chunks (then single pages) to `path` until the first error.
std::pair<std::string, uint64_t> fill(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return {"open " + errName(errno), 0};
  static char chunk[1 << 20];
  memset(chunk, 'x', sizeof(chunk));
  uint64_t total = 0;
  size_t size = sizeof(chunk);
  std::string result = "OK";
  for (;;) {
    ssize_t n = write(fd, chunk, size);
    if (n < 0) {
      if (size > 4096) { size = 4096; continue; }
      result = errName(errno);
      break;
    }
    total += n;
    if (total > (4ull << 30)) { result = "no limit"; break; }
  }
  close(fd);
  return {result, total};
}

void filesystemRows() {
  row("F-1a", listDir("/"), "ls /");
  row("F-1b", listDir("/dev"), "ls /dev");

  Multi f2;
  f2.add("open_wronly", res(open("/writable", O_WRONLY)));
  f2.add("creat", res(creat("/x", 0644)));
  f2.add("rename", res(rename("/program", "/program2")));
  f2.add("unlink", res(unlink("/program")));
  f2.add("utimes", res(utimes("/program", nullptr)));
  f2.add("mkdir_dev", res(mkdir("/dev/x", 0755)));
  f2.add("chmod", res(chmod("/program", 04777)));
  f2.emit("F-2");

  row("F-3", res(link("/program", "/var/hardlink")), "link /program /var/hardlink");

  unlink("/var/shadow-link");
  long s = symlink("/etc/shadow", "/var/shadow-link");
  row("F-4", s < 0 ? "symlink " + errName(errno) : res(open("/var/shadow-link", O_RDONLY)),
      "open(symlink to /etc/shadow)");
  unlink("/var/shadow-link");

  struct stat varParent, root;
  stat("/var/..", &varParent);
  stat("/", &root);
  row("F-5a", varParent.st_ino == root.st_ino ? "/" : "elsewhere", "/var/.. is /");
  row("F-5b", res(open(env("PROBE_HOST_VAR", "/nonexistent"), O_RDONLY)),
      "open host path of the grain directory");

  // F-6: /tmp and /dev/shm are size-limited tmpfs.
  auto tmp = fill("/tmp/fill");
  unlink("/tmp/fill");
  row("F-6a", tmp.first, std::to_string(tmp.second));
  auto shm = fill("/dev/shm/fill");
  unlink("/dev/shm/fill");
  row("F-6b", shm.first, std::to_string(shm.second));
  int files = 0;
  std::string inodeResult = "OK";
  mkdir("/tmp/inodes", 0700);
  for (; files < 100000; files++) {
    char name[64];
    snprintf(name, sizeof(name), "/tmp/inodes/%d", files);
    int fd = open(name, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) { inodeResult = errName(errno); break; }
    close(fd);
  }
  for (int i = 0; i < files; i++) {
    char name[64];
    snprintf(name, sizeof(name), "/tmp/inodes/%d", i);
    unlink(name);
  }
  rmdir("/tmp/inodes");
  row("F-6c", inodeResult, std::to_string(files));

  struct rlimit core;
  getrlimit(RLIMIT_CORE, &core);
  row("F-8", std::to_string(core.rlim_cur) + "/" + std::to_string(core.rlim_max), "RLIMIT_CORE");

  int fd = open("/var/xattr-target", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  close(fd);
  row("F-9", res(setxattr("/var/xattr-target", "security.capability", "xxxx", 4, 0)),
      "setxattr security.capability");
  unlink("/var/xattr-target");

  int tmpfile = open("/var", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (tmpfile < 0) {
    row("F-10", "O_TMPFILE " + errName(errno));
  } else {
    row("F-10", res(linkat(tmpfile, "", AT_FDCWD, "/escaped", AT_EMPTY_PATH)),
        "linkat(O_TMPFILE fd) into the package");
    close(tmpfile);
  }
}

// ---- 2.4 network ----

std::string connectTo(const sockaddr* addr, socklen_t len, int type = SOCK_STREAM) {
  int s = socket(addr->sa_family, type | SOCK_CLOEXEC, 0);
  if (s < 0) return "socket " + errName(errno);
  std::string r = res(connect(s, addr, len));
  close(s);
  return r;
}

std::string connect4(const char* ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return connectTo(reinterpret_cast<sockaddr*>(&a), sizeof(a));
}

std::string connect6(const char* ip, int port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return connectTo(reinterpret_cast<sockaddr*>(&a), sizeof(a));
}

void networkRows() {
  // N-0: our own loopback works (the bridge needs it).
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  std::string n0 = res(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)));
  if (n0 == "OK") n0 = res(listen(l, 1));
  if (n0 == "OK") {
    getsockname(l, reinterpret_cast<sockaddr*>(&a), &alen);
    n0 = connectTo(reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  close(l);
  row("N-0", n0, "connect to our own 127.0.0.1 listener");

  int port = atoi(env("PROBE_HOST_PORT", "1"));
  Multi n1;
  n1.add("127.0.0.1", connect4("127.0.0.1", port));
  n1.emit("N-1a");
  row("N-1b", connect6("::1", port), "[::1]:host port");

  Multi n2;
  n2.add("10.0.0.1", connect4("10.0.0.1", 80));
  n2.add("169.254.169.254", connect4("169.254.169.254", 80));
  n2.add("8.8.8.8", connect4("8.8.8.8", 443));
  n2.add("2001:4860:4860::8888", connect6("2001:4860:4860::8888", 443));
  n2.emit("N-2");

  int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in dns{};
  dns.sin_family = AF_INET;
  dns.sin_port = htons(53);
  inet_pton(AF_INET, "8.8.8.8", &dns.sin_addr);
  row("N-3", res(sendto(u, "x", 1, 0, reinterpret_cast<sockaddr*>(&dns), sizeof(dns))),
      "UDP to 8.8.8.8:53");
  close(u);

  sockaddr_un abs{};
  abs.sun_family = AF_UNIX;
  const char* name = env("PROBE_ABSTRACT", "sandstorm-probe-none");
  strncpy(abs.sun_path + 1, name, sizeof(abs.sun_path) - 2);
  row("N-4", connectTo(reinterpret_cast<sockaddr*>(&abs),
                       offsetof(sockaddr_un, sun_path) + 1 + strlen(name)),
      "abstract unix socket of the host");

  sockaddr_un path{};
  path.sun_family = AF_UNIX;
  strncpy(path.sun_path, env("PROBE_HOST_SOCKET", "/run/docker.sock"), sizeof(path.sun_path) - 1);
  row("N-5", connectTo(reinterpret_cast<sockaddr*>(&path), sizeof(path)),
      "host unix socket by path");

  Multi n6;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr{};
  strcpy(ifr.ifr_name, "lo");
  n6.add("SIOCSIFFLAGS", res(ioctl(s, SIOCSIFFLAGS, &ifr)));
  n6.add("SIOCSIFADDR", res(ioctl(s, SIOCSIFADDR, &ifr)));
  close(s);
  n6.emit("N-6a");
  row("N-6b", res(socket(AF_NETLINK, SOCK_RAW, 0)), "netlink route socket");
}

// ---- 2.5 resources (the in-battery parts) ----

void resourceRows() {
  int count = 0;
  std::string result = "OK";
  std::vector<int> fds;
  for (;;) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) { result = errName(errno); break; }
    fds.push_back(fd);
    if (++count > 100000) break;
  }
  for (int fd : fds) close(fd);
  row("R-5a", result, std::to_string(count + 4));
  struct rlimit nofile = {4097, 4097};
  row("R-5b", res(setrlimit(RLIMIT_NOFILE, &nofile)), "raise NOFILE above 4096");
}

void selfChecks() {
  __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2];
  syscall(SYS_capget, &h, d);
  bool none = !(d[0].effective | d[0].permitted | d[0].inheritable | d[1].effective |
                d[1].permitted | d[1].inheritable);
  int bounding = 0;
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) bounding++;
  }
  row("C-1", none && bounding == 0 ? "no-caps" : "caps-present",
      "bounding=" + std::to_string(bounding));
  row("C-2", std::to_string(prctl(PR_GET_SECCOMP, 0, 0, 0, 0)) + "/" +
                 std::to_string(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)),
      "seccomp mode / no_new_privs");
}

// ---- stand-alone modes (each in its own grain) ----

int forkBomb(bool hold) {
  int forks = 0;
  for (;;) {
    pid_t p = fork();
    if (p == 0) {
      for (;;) pause();
    }
    if (p < 0) {
      row("R-1", errName(errno), std::to_string(forks));
      if (hold) {
        for (;;) pause();  // keep the cgroup full until the host kills it
      }
      return 0;
    }
    if (++forks > 100000) {
      row("R-1", "no limit", std::to_string(forks));
      return 0;
    }
  }
}

int threadBomb() {
  int threads = 0;
  for (;;) {
    pthread_t t;
    int rc = pthread_create(&t, nullptr, [](void*) -> void* {
      for (;;) pause();
      return nullptr;
    }, nullptr);
    if (rc != 0) {
      row("R-2", errName(rc), std::to_string(threads));
      return 0;
    }
    if (++threads > 100000) {
      row("R-2", "no limit", std::to_string(threads));
      return 0;
    }
  }
}

int memHog(long mib) {
  // Touch every page so the memcg is actually charged; the OOM killer should end us.
  size_t bytes = static_cast<size_t>(mib) << 20;
  char* p = static_cast<char*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (p == MAP_FAILED) {
    row("R-3", "mmap " + errName(errno));
    return 1;
  }
  for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
  row("R-3", "survived", std::to_string(mib) + " MiB touched");
  return 0;
}

int diskFill() {
  auto r = fill("/var/fill");
  row("F-7a", r.first, std::to_string(r.second));
  int files = 0;
  std::string small = "OK";
  mkdir("/var/many", 0700);
  for (; files < 1000000; files++) {
    char name[64];
    snprintf(name, sizeof(name), "/var/many/%d", files);
    int fd = open(name, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) { small = errName(errno); break; }
    close(fd);
  }
  row("F-7b", small, std::to_string(files));
  return 0;
}

int listenMode() {
  // N-7: listen on all addresses of the grain's netns, then wait for the host to try to reach
  // it; the host writes one byte on fd 3 when done.
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(atoi(env("PROBE_LISTEN_PORT", "18080"))));
  std::string r = res(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)));
  if (r == "OK") r = res(listen(s, 4));
  row("N-7", r, "grain listening on 0.0.0.0");
  char byte;
  ssize_t ignored = read(3, &byte, 1);
  (void)ignored;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "battery";
  if (mode == "true") return 0;
  if (mode == "euid") {
    printf("%d\n", geteuid());
    return 0;
  }
  if (mode == "sleep") {
    for (;;) pause();
  }
  if (mode == "forkbomb") return forkBomb(argc > 2 && strcmp(argv[2], "hold") == 0);
  if (mode == "threadbomb") return threadBomb();
  if (mode == "memhog") return memHog(argc > 2 ? atol(argv[2]) : 256);
  if (mode == "diskfill") return diskFill();
  if (mode == "listen") return listenMode();
  if (mode == "mark") {
    // P-9: write where /var points and show what / holds.
    int fd = open("/var/marker", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    row("P-9a", fd < 0 ? errName(errno) : "OK", "create /var/marker");
    row("P-9b", listDir("/"), "ls /");
    row("P-9c", listDir("/dev"), "ls /dev");
    return 0;
  }
  if (mode == "fds") {
    fdRow();
    return 0;
  }
  if (mode != "battery") return 2;

  selfChecks();
  fdRow();  // first, before any attempt opens something
  cwdRow();
  processRows();
  filesystemRows();
  networkRows();
  resourceRows();
  kernelSurface();
  censusK1();
  row("END", "done");
  return 0;
}
