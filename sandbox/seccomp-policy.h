// The grain seccomp policy as a table: one row per syscall the filter lets through (or answers
// with a specific errno), with the reason. seccomp.c++ compiles it into a filter; the probe
// (probe/probe.c++) reads the same table to check every syscall number against it (battery
// row K-1), so the table, the filter and the test cannot drift apart.
//
// Anything not listed returns ENOSYS (DESIGN §6): libc and runtimes treat ENOSYS as "old
// kernel" and fall back (glibc clone3 -> clone, faccessat2 -> faccessat; libuv io_uring ->
// threads), whereas EPERM makes some of them abort (node on clone3).
#pragma once

#include <errno.h>
#include <sys/syscall.h>

// Newer than Debian 12's kernel headers; the numbers are fixed x86-64 ABI.
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

namespace ss::sandbox {

enum class SyscallRule {
  ALLOW,       // always allowed
  ARGS,        // allowed for some arguments only (seccomp.c++ has the rules); else an errno
  ERRNO,       // never allowed; answered with `error` instead of ENOSYS
};

struct SyscallPolicy {
  long nr;
  const char* name;
  SyscallRule rule;
  int error;         // for ERRNO
  const char* why;
};

#define SS_ALLOW(name, why) {SYS_##name, #name, SyscallRule::ALLOW, 0, why}
#define SS_ARGS(name, why) {SYS_##name, #name, SyscallRule::ARGS, 0, why}
#define SS_ERRNO(name, err, why) {SYS_##name, #name, SyscallRule::ERRNO, err, why}

inline constexpr SyscallPolicy GRAIN_SYSCALLS[] = {
    // ---- I/O on descriptors the grain already has ----
    SS_ALLOW(read, "basic I/O"),
    SS_ALLOW(write, "basic I/O"),
    SS_ALLOW(readv, "scatter I/O (glibc stdio, node)"),
    SS_ALLOW(writev, "gather I/O (HTTP servers write head+body)"),
    SS_ALLOW(pread64, "positioned I/O (sqlite, fossil)"),
    SS_ALLOW(pwrite64, "positioned I/O (sqlite, fossil)"),
    SS_ALLOW(preadv, "positioned vector I/O (libuv fs)"),
    SS_ALLOW(pwritev, "positioned vector I/O (libuv fs)"),
    SS_ALLOW(preadv2, "positioned vector I/O with flags (python os.preadv)"),
    SS_ALLOW(pwritev2, "positioned vector I/O with flags"),
    SS_ALLOW(lseek, "file offsets"),
    SS_ALLOW(close, "closing descriptors"),
    SS_ALLOW(close_range, "closing many descriptors before exec (python subprocess)"),
    SS_ALLOW(dup, "descriptor copies (shells, redirections)"),
    SS_ALLOW(dup2, "descriptor copies"),
    SS_ALLOW(dup3, "descriptor copies with O_CLOEXEC"),
    SS_ALLOW(fcntl, "flags and POSIX locks (sqlite locking)"),
    SS_ALLOW(flock, "whole-file locks"),
    SS_ALLOW(pipe, "pipes between app processes"),
    SS_ALLOW(pipe2, "pipes with O_CLOEXEC"),
    SS_ALLOW(sendfile, "static file serving (lighttpd, busybox httpd); splice stays denied"),
    SS_ALLOW(copy_file_range, "in-kernel copy (node fs.copyFile, python shutil)"),
    SS_ALLOW(fsync, "durability (sqlite)"),
    SS_ALLOW(fdatasync, "durability (sqlite)"),
    SS_ALLOW(sync_file_range, "write-back hints (databases)"),
    SS_ALLOW(syncfs, "flush the grain's own file system"),
    SS_ALLOW(fallocate, "preallocation (sqlite WAL, downloads)"),
    SS_ALLOW(fadvise64, "read-ahead hints"),
    SS_ALLOW(readahead, "read-ahead hints"),
    SS_ALLOW(ftruncate, "resizing open files"),
    SS_ALLOW(truncate, "resizing files by path"),
    // ---- paths (only the grain's own mount namespace is visible) ----
    SS_ALLOW(open, "opening files (legacy entry point)"),
    SS_ALLOW(openat, "opening files"),
    SS_ALLOW(openat2, "opening files with RESOLVE_* containment"),
    SS_ALLOW(creat, "creating files (legacy entry point)"),
    SS_ALLOW(stat, "file metadata"),
    SS_ALLOW(fstat, "file metadata"),
    SS_ALLOW(lstat, "file metadata"),
    SS_ALLOW(newfstatat, "file metadata (glibc stat family)"),
    SS_ALLOW(statx, "file metadata (libuv, coreutils)"),
    SS_ALLOW(statfs, "free space (apps that check before writing)"),
    SS_ALLOW(fstatfs, "free space, file system type"),
    SS_ALLOW(access, "permission checks"),
    SS_ALLOW(faccessat, "permission checks"),
    SS_ALLOW(faccessat2, "permission checks with flags (glibc 2.33+)"),
    SS_ALLOW(readlink, "reading symlinks"),
    SS_ALLOW(readlinkat, "reading symlinks"),
    SS_ALLOW(getdents, "listing directories (legacy)"),
    SS_ALLOW(getdents64, "listing directories"),
    SS_ALLOW(mkdir, "creating directories"),
    SS_ALLOW(mkdirat, "creating directories"),
    SS_ALLOW(rmdir, "removing directories"),
    SS_ALLOW(rename, "atomic replace (sqlite, editors)"),
    SS_ALLOW(renameat, "atomic replace"),
    SS_ALLOW(renameat2, "atomic replace/exchange"),
    SS_ALLOW(unlink, "removing files"),
    SS_ALLOW(unlinkat, "removing files"),
    SS_ALLOW(link, "hard links (within one mount only: EXDEV across)"),
    SS_ALLOW(linkat, "hard links"),
    SS_ALLOW(symlink, "symlinks (resolved inside the grain root)"),
    SS_ALLOW(symlinkat, "symlinks"),
    SS_ALLOW(chmod, "file modes (setuid bits are inert: nosuid mounts + no_new_privs)"),
    SS_ALLOW(fchmod, "file modes"),
    SS_ALLOW(fchmodat, "file modes"),
    SS_ALLOW(fchmodat2, "file modes (glibc 2.39+ lchmod)"),
    SS_ALLOW(chown, "ownership; only the grain's one uid/gid is mapped, so a no-op or EPERM"),
    SS_ALLOW(fchown, "ownership (tar, cp -p)"),
    SS_ALLOW(lchown, "ownership"),
    SS_ALLOW(fchownat, "ownership"),
    SS_ALLOW(utime, "timestamps"),
    SS_ALLOW(utimes, "timestamps"),
    SS_ALLOW(utimensat, "timestamps"),
    SS_ALLOW(futimesat, "timestamps"),
    SS_ALLOW(chdir, "working directory"),
    SS_ALLOW(fchdir, "working directory"),
    SS_ALLOW(getcwd, "working directory"),
    SS_ALLOW(umask, "file creation mask"),
    // ---- memory ----
    SS_ALLOW(brk, "heap"),
    SS_ALLOW(mmap, "heap, libraries, JIT code (V8)"),
    SS_ALLOW(munmap, "heap"),
    SS_ALLOW(mprotect, "JIT W^X flips (V8), RELRO"),
    SS_ALLOW(mremap, "realloc of large blocks"),
    SS_ALLOW(madvise, "returning memory (allocators, V8 GC)"),
    SS_ALLOW(msync, "mmap'd databases"),
    SS_ALLOW(mincore, "page residency (some allocators)"),
    SS_ALLOW(mlock, "keeping keys out of swap (bounded by RLIMIT_MEMLOCK and the memcg)"),
    SS_ALLOW(munlock, "pair of mlock"),
    SS_ALLOW(membarrier, "JIT and RCU runtimes (.NET, userspace RCU)"),
    // ---- processes and threads (inside the grain's pid namespace only) ----
    SS_ARGS(clone, "fork and threads; namespace flags -> EPERM (seccomp.c++)"),
    SS_ALLOW(fork, "fork (legacy entry point)"),
    SS_ALLOW(vfork, "posix_spawn, shells"),
    SS_ALLOW(execve, "running the app's own programs"),
    SS_ALLOW(exit, "thread exit"),
    SS_ALLOW(exit_group, "process exit"),
    SS_ALLOW(wait4, "reaping children"),
    SS_ALLOW(waitid, "reaping children"),
    SS_ALLOW(kill, "signals (pid namespace: only grain processes are visible)"),
    SS_ALLOW(tkill, "signals to threads"),
    SS_ALLOW(tgkill, "signals to threads (raise, abort)"),
    SS_ALLOW(getpid, "identity"),
    SS_ALLOW(getppid, "identity (0 for the grain's init: its parent is outside)"),
    SS_ALLOW(gettid, "identity"),
    SS_ALLOW(getpgid, "process groups (shells)"),
    SS_ALLOW(setpgid, "process groups (shells)"),
    SS_ALLOW(getpgrp, "process groups"),
    SS_ALLOW(getsid, "sessions"),
    SS_ALLOW(setsid, "sessions (daemonising servers)"),
    SS_ALLOW(set_tid_address, "thread start (glibc)"),
    SS_ALLOW(set_robust_list, "robust mutexes (glibc pthread start)"),
    SS_ALLOW(arch_prctl, "thread-local storage (x86-64 FS base)"),
    SS_ARGS(prctl, "thread names, dumpable, no_new_privs reads; others -> EINVAL/ENOSYS"),
    SS_ARGS(personality, "query or PER_LINUX only; READ_IMPLIES_EXEC etc. -> ENOSYS"),
    SS_ALLOW(getuid, "identity"),
    SS_ALLOW(geteuid, "identity"),
    SS_ALLOW(getgid, "identity"),
    SS_ALLOW(getegid, "identity"),
    SS_ALLOW(getresuid, "identity"),
    SS_ALLOW(getresgid, "identity"),
    SS_ALLOW(getgroups, "identity"),
    SS_ALLOW(setuid, "servers that drop privileges; no caps and one mapped uid: no-op or EPERM"),
    SS_ALLOW(setgid, "as setuid"),
    SS_ALLOW(setreuid, "as setuid"),
    SS_ALLOW(setregid, "as setuid"),
    SS_ALLOW(setresuid, "as setuid"),
    SS_ALLOW(setresgid, "as setuid"),
    SS_ALLOW(setgroups, "as setuid (EPERM without CAP_SETGID)"),
    SS_ALLOW(setfsuid, "as setuid"),
    SS_ALLOW(setfsgid, "as setuid"),
    SS_ALLOW(capget, "reading (empty) capability sets"),
    SS_ALLOW(capset, "dropping capabilities; raising fails (bounding set is empty)"),
    SS_ALLOW(getrlimit, "resource limits"),
    SS_ALLOW(setrlimit, "lowering limits (raising hard limits needs CAP_SYS_RESOURCE)"),
    SS_ALLOW(prlimit64, "resource limits (glibc)"),
    SS_ALLOW(getrusage, "CPU accounting"),
    SS_ALLOW(getpriority, "nice values"),
    SS_ALLOW(setpriority, "lowering priority of background work"),
    SS_ALLOW(sched_yield, "spin locks"),
    SS_ALLOW(sched_getaffinity, "CPU count (libuv, python os.cpu_count)"),
    SS_ALLOW(sched_setaffinity, "pinning within the grain's allowed CPUs"),
    SS_ALLOW(sched_getparam, "scheduler queries (python)"),
    SS_ALLOW(sched_getscheduler, "scheduler queries"),
    SS_ALLOW(sched_get_priority_max, "scheduler queries"),
    SS_ALLOW(sched_get_priority_min, "scheduler queries"),
    SS_ALLOW(restart_syscall, "kernel-internal restart after a signal"),
    // ---- time ----
    SS_ALLOW(clock_gettime, "time (vDSO fallback)"),
    SS_ALLOW(clock_getres, "time"),
    SS_ALLOW(clock_nanosleep, "sleeping"),
    SS_ALLOW(nanosleep, "sleeping"),
    SS_ALLOW(gettimeofday, "time (vDSO fallback)"),
    SS_ALLOW(time, "time (vDSO fallback)"),
    SS_ALLOW(times, "CPU times"),
    SS_ALLOW(alarm, "timeouts"),
    SS_ALLOW(getitimer, "interval timers"),
    SS_ALLOW(setitimer, "interval timers (profilers, timeouts)"),
    SS_ALLOW(timer_create, "POSIX timers"),
    SS_ALLOW(timer_settime, "POSIX timers"),
    SS_ALLOW(timer_gettime, "POSIX timers"),
    SS_ALLOW(timer_getoverrun, "POSIX timers"),
    SS_ALLOW(timer_delete, "POSIX timers"),
    SS_ALLOW(timerfd_create, "event-loop timers"),
    SS_ALLOW(timerfd_settime, "event-loop timers"),
    SS_ALLOW(timerfd_gettime, "event-loop timers"),
    // ---- signals ----
    SS_ALLOW(rt_sigaction, "signal handlers"),
    SS_ALLOW(rt_sigprocmask, "signal masks"),
    SS_ALLOW(rt_sigreturn, "returning from handlers"),
    SS_ALLOW(rt_sigsuspend, "waiting for signals"),
    SS_ALLOW(rt_sigpending, "signal queries"),
    SS_ALLOW(rt_sigtimedwait, "synchronous signal handling"),
    SS_ALLOW(rt_sigqueueinfo, "queued signals (to grain processes only)"),
    SS_ALLOW(rt_tgsigqueueinfo, "queued signals to threads"),
    SS_ALLOW(sigaltstack, "stack-overflow handlers (V8, Go, Rust)"),
    SS_ALLOW(pause, "waiting for signals"),
    SS_ALLOW(signalfd, "signals in event loops"),
    SS_ALLOW(signalfd4, "signals in event loops"),
    // ---- event loops ----
    SS_ALLOW(epoll_create, "event loops (legacy)"),
    SS_ALLOW(epoll_create1, "event loops (libuv, legacy-bridge's KJ loop)"),
    SS_ALLOW(epoll_ctl, "event loops"),
    SS_ALLOW(epoll_wait, "event loops"),
    SS_ALLOW(epoll_pwait, "event loops (libuv)"),
    SS_ALLOW(epoll_pwait2, "event loops with ns timeouts"),
    SS_ALLOW(poll, "event loops (lighttpd, python)"),
    SS_ALLOW(ppoll, "event loops"),
    SS_ALLOW(select, "event loops (busybox)"),
    SS_ALLOW(pselect6, "event loops"),
    SS_ALLOW(eventfd, "wakeups"),
    SS_ALLOW(eventfd2, "wakeups (libuv)"),
    SS_ALLOW(inotify_init, "file watching"),
    SS_ALLOW(inotify_init1, "file watching (node fs.watch)"),
    SS_ALLOW(inotify_add_watch, "file watching"),
    SS_ALLOW(inotify_rm_watch, "file watching"),
    SS_ALLOW(futex, "threads, mutexes"),
    // ---- network (the grain's own netns holds only lo) ----
    SS_ARGS(socket, "AF_UNIX/INET/INET6 stream or datagram only; others EAFNOSUPPORT/EACCES"),
    SS_ARGS(socketpair, "AF_UNIX only"),
    SS_ALLOW(bind, "app's HTTP listener on loopback"),
    SS_ALLOW(listen, "app's HTTP listener"),
    SS_ALLOW(accept, "app's HTTP listener"),
    SS_ALLOW(accept4, "app's HTTP listener"),
    SS_ALLOW(connect, "bridge -> app on loopback"),
    SS_ALLOW(getsockname, "socket queries"),
    SS_ALLOW(getpeername, "socket queries"),
    SS_ALLOW(sendto, "socket I/O"),
    SS_ALLOW(recvfrom, "socket I/O"),
    SS_ALLOW(sendmsg, "socket I/O, fd passing on fd 3 (capnp)"),
    SS_ALLOW(recvmsg, "socket I/O, fd passing on fd 3 (capnp)"),
    SS_ALLOW(sendmmsg, "batched datagrams (glibc resolver)"),
    SS_ALLOW(recvmmsg, "batched datagrams"),
    SS_ALLOW(shutdown, "half-close"),
    SS_ALLOW(setsockopt, "socket options (TCP_NODELAY, SO_REUSEADDR)"),
    SS_ALLOW(getsockopt, "socket options, SO_ERROR after connect"),
    SS_ARGS(ioctl, "FIONBIO/FIOCLEX/FIONCLEX/FIONREAD/FIOASYNC/TCGETS/TIOCGWINSZ only"),
    // ---- system information ----
    SS_ALLOW(uname, "system name (nodename is \"sandbox\")"),
    SS_ALLOW(sysinfo, "total memory (libuv os.totalmem)"),
    SS_ALLOW(getrandom, "randomness"),
    SS_ALLOW(getcpu, "current CPU (vDSO fallback)"),
    // ---- denied with a specific errno instead of ENOSYS ----
    SS_ERRNO(ptrace, EPERM, "debugger-style access; EPERM tells tools it is a policy, not a bug"),
    SS_ERRNO(setxattr, EOPNOTSUPP, "xattrs (security.capability!): 'not supported here'"),
    SS_ERRNO(lsetxattr, EOPNOTSUPP, "xattrs"),
    SS_ERRNO(fsetxattr, EOPNOTSUPP, "xattrs"),
    SS_ERRNO(getxattr, EOPNOTSUPP, "xattrs (cp -a, ls -l probe them and carry on)"),
    SS_ERRNO(lgetxattr, EOPNOTSUPP, "xattrs"),
    SS_ERRNO(fgetxattr, EOPNOTSUPP, "xattrs"),
    SS_ERRNO(listxattr, EOPNOTSUPP, "xattrs"),
    SS_ERRNO(llistxattr, EOPNOTSUPP, "xattrs"),
    SS_ERRNO(flistxattr, EOPNOTSUPP, "xattrs"),
    SS_ERRNO(removexattr, EOPNOTSUPP, "xattrs"),
    SS_ERRNO(lremovexattr, EOPNOTSUPP, "xattrs"),
    SS_ERRNO(fremovexattr, EOPNOTSUPP, "xattrs"),
};

#undef SS_ALLOW
#undef SS_ARGS
#undef SS_ERRNO

inline const SyscallPolicy* findSyscallPolicy(long nr) {
  for (auto& p : GRAIN_SYSCALLS) {
    if (p.nr == nr) return &p;
  }
  return nullptr;
}

}  // namespace ss::sandbox
