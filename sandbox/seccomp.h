// The grain's seccomp filter (policy in seccomp-policy.h), compiled once per daemon with
// libseccomp and installed in each sandbox child as raw BPF: the child then needs no
// allocation and no libseccomp call between fork and exec, and each spawn skips the ~1 ms
// compile.
#pragma once

#include <kj/array.h>
#include <linux/filter.h>

namespace ss::sandbox {

class SeccompProgram {
public:
  explicit SeccompProgram(kj::Array<sock_filter> code) : code(kj::mv(code)) {}

  sock_fprog fprog() const;
  // For seccomp(SECCOMP_SET_MODE_FILTER). Valid while this object lives.
  size_t instructionCount() const { return code.size(); }

private:
  kj::Array<sock_filter> code;
};

enum class FilterFor { APP, BRIDGE };

SeccompProgram compileGrainFilter(FilterFor target = FilterFor::APP);
// Builds the filter: default ENOSYS; x86-64 only (x32 and i386 entry points -> ENOSYS);
// argument rules for clone, socket, socketpair, ioctl, prctl and personality. Throws on a
// libseccomp failure (through SS_CHECK_NEG).
//
// BRIDGE: the same policy plus splice() and seccomp(SECCOMP_SET_MODE_FILTER), for our own
// sandstorm-http-bridge as the grain's first process only. It moves body and WebSocket bytes
// between pipes and sockets with splice (never from files, so the Dirty Pipe class of page-cache
// writes is out of its reach), and before exec'ing the app it stacks APP_STAGE_TWO on top,
// which takes both calls away again: the app ends up with exactly the APP policy.

int installSeccomp(const sock_fprog& program);
// Child side, async-signal-safe: seccomp(SECCOMP_SET_MODE_FILTER). Requires no_new_privs.
// Returns 0 or -errno.

}  // namespace ss::sandbox
