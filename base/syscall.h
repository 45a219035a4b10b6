// One syscall-check family for the whole project.
//
// errno-style calls use KJ's macros directly (they retry EINTR and throw with the errno and the
// context values passed after the call):
//   KJ_SYSCALL(fd = ::open(path, O_RDONLY | O_CLOEXEC), path);
//   KJ_NONBLOCKING_SYSCALL(n = ::read(fd, buf, size));        // EAGAIN is not an error
//   KJ_SYSCALL_HANDLE_ERRORS(::mkdir(path, 0700)) { case EEXIST: break; default: KJ_FAIL_SYSCALL(...); }
//
// liburing, libseccomp and io_uring CQE `res` values report failure as a negative errno instead
// of -1 + errno. SS_CHECK_NEG bridges them into the same failure path, so every error report
// looks the same whatever API produced it (Sandstorm's CHECK_SECCOMP does the same).
#pragma once

#include <kj/debug.h>

// Evaluates `call` once; if the result is negative, fails like KJ_SYSCALL with errno = -result.
// Yields the (non-negative) result.
#define SS_CHECK_NEG(call, ...)                                  \
  ([&]() {                                                       \
    auto _ssResult = (call);                                     \
    if (_ssResult < 0) {                                         \
      KJ_FAIL_SYSCALL(#call, static_cast<int>(-_ssResult), ##__VA_ARGS__); \
    }                                                            \
    return _ssResult;                                            \
  }())

namespace ss {

// Describes a negative-errno result for logs and error pages ("ECONNREFUSED: Connection refused").
const char* errnoName(int error);

}  // namespace ss
