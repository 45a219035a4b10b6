#include "cli/server-log.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kj/debug.h>

#include "base/limits.h"

namespace ss::cli {

ServerLog::ServerLog(kj::StringPtr path): path(kj::heapString(path)) { reopen(); }

void ServerLog::reopen() {
  int fd;
  KJ_SYSCALL(fd = open(path.cStr(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600), path);
  fflush(stdout);
  // dup2 clears close-on-exec on 1 and 2, as stdout/stderr should be.
  KJ_SYSCALL(dup2(fd, STDOUT_FILENO));
  KJ_SYSCALL(dup2(fd, STDERR_FILENO));
  KJ_SYSCALL(close(fd));
}

void ServerLog::rotateIfLarge() {
  struct stat info;
  KJ_SYSCALL(fstat(STDERR_FILENO, &info));
  if (uint64_t(info.st_size) < limits::SERVER_LOG_ROTATE_BYTES) return;
  auto old = kj::str(path, ".1");
  KJ_SYSCALL(rename(path.cStr(), old.cStr()), path);
  reopen();
}

kj::Promise<void> ServerLog::rotateLoop(kj::Timer& timer) {
  return timer.afterDelay(limits::SERVER_LOG_CHECK_MS * kj::MILLISECONDS).then([this, &timer]() {
    rotateIfLarge();
    return rotateLoop(timer);
  });
}

}  // namespace ss::cli
