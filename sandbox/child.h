// Internal to sandbox/: what the sandbox child runs between clone3 and execve.
//
// The parent (spawn.c++) prepares everything as plain C data before cloning, so the child
// allocates nothing and calls nothing that could take a lock another thread held at clone
// time: only raw syscalls, a few async-signal-safe libc wrappers, and snprintf into a stack
// buffer for the failure message. A failing step writes "step: detail: error" to the
// close-on-exec error pipe and exits 127; execve closing that pipe is the success signal.
#pragma once

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

namespace ss::sandbox {

struct ChildBind {
  const char* source;  // host path
  const char* target;  // absolute path inside the grain
};

struct ChildContext {
  // Pipes to the parent. goRead delivers one byte once uid/gid maps and cgroups are in place;
  // its write end stays open in the parent until exec, so POLLHUP on it means the parent died.
  int goRead;
  int goWriteParentEnd;   // the parent's end, closed first thing in the child
  int errWrite;
  int errReadParentEnd;   // likewise

  int fd3;      // becomes fd 3 (the Cap'n Proto socket)
  int stdoutFd; // becomes fd 1, or -1 for /dev/null
  int stderrFd; // becomes fd 2, or -1 for /dev/null

  const char* packageDir;
  const char* varDir;
  const char* stagingDir;  // host directory the new root tmpfs is mounted on (then pivoted)
  const char* const* shadowed;
  size_t shadowedCount;
  const ChildBind* binds;
  size_t bindCount;
  char rootOptions[96];
  char devOptions[96];
  char shmOptions[96];
  char tmpOptions[96];

  const char* const* argv;
  const char* const* envp;
  sock_fprog seccomp;

  bool dropSupplementaryGroups;  // root daemon: setgroups(0) (unprivileged: setgroups denied)
  uint32_t grainUid;
  uint32_t grainGid;
  uint64_t nofileSoft;
  uint64_t nofileHard;
};

[[noreturn]] void runChild(const ChildContext& ctx);
// The linear setup (child.c++). Never returns: execs the app or exits 127 after reporting.

[[noreturn]] void childFail(const ChildContext& ctx, const char* step, int error,
                            const char* detail = nullptr);
// Reports "step: detail: strerror (ENAME)" on the error pipe and _exit(127).

void setupFilesystem(const ChildContext& ctx);
// mounts.c++: builds the grain root and pivots into it (see the comment there).

}  // namespace ss::sandbox
