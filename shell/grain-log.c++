#include "shell/grain-log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <kj/debug.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/syscall.h"

namespace ss::shell {

namespace {
char readBuffer[limits::GRAIN_LOG_READ_BYTES];  // one daemon thread: one buffer for every grain
}  // namespace

GrainLog::GrainLog(reactor::Reactor& reactor, kj::StringPtr path)
    : reactor(reactor), path(kj::heapString(path)) {
  open();
  if (fileSize > limits::GRAIN_LOG_ROTATE_BYTES) {
    KJ_SYSCALL(rename(this->path.cStr(), kj::str(this->path, ".1").cStr()), this->path);
    open();
  }
  // The read end is ours and non-blocking; the write end stays blocking for the grain.
  auto pipe = makePipe(false);
  setNonblocking(pipe.first.get());
  pipeRead = kj::mv(pipe.first);
  pipeWrite = kj::mv(pipe.second);
}

void GrainLog::open() {
  int fd;
  KJ_SYSCALL(fd = ::open(path.cStr(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600), path);
  file = AutoCloseFd(fd);
  struct stat st;
  KJ_SYSCALL(fstat(fd, &st), path);
  fileSize = st.st_size;
}

void GrainLog::start() {
  task = pump().eagerlyEvaluate([this](kj::Exception&& e) {
    SS_LOG(WARNING, "grain", "copying the grain's output failed", path, e.getDescription());
  });
}

kj::Promise<void> GrainLog::pump() {
  return reactor.whenReadable(pipeRead.get()).then([this]() { return copySome(); });
}

kj::Promise<void> GrainLog::copySome() {
  MonoMs now = reactor.now();
  if (now - windowStart >= 1000) {
    windowStart = now;
    windowBytes = 0;
  }
  while (windowBytes < limits::GRAIN_LOG_BYTES_PER_SECOND) {
    size_t want = std::min<uint64_t>(sizeof(readBuffer),
                                     limits::GRAIN_LOG_BYTES_PER_SECOND - windowBytes);
    ssize_t n = ::read(pipeRead.get(), readBuffer, want);
    if (n > 0) {
      append(readBuffer, n);
      windowBytes += n;
    } else if (n == 0) {
      return kj::READY_NOW;  // every writer is gone: the grain has exited
    } else if (errno == EAGAIN) {
      return pump();
    } else if (errno != EINTR) {
      int error = errno;
      SS_LOG(WARNING, "grain", "reading the grain's output failed", path, errnoName(error));
      return kj::READY_NOW;
    }
  }
  // Over the rate: leave the rest in the pipe (the app blocks once it is full) until the next
  // window.
  MonoMs wait = windowStart + 1000 - now;
  return reactor.timer().afterDelay(wait * kj::MILLISECONDS).then([this]() {
    return copySome();
  });
}

void GrainLog::drainNow() {
  if (pipeRead.get() < 0) return;
  // Bounded: a pipe holds at most its size, and the grain's processes are gone.
  for (uint64_t total = 0; total < limits::GRAIN_LOG_ROTATE_BYTES;) {
    ssize_t n = ::read(pipeRead.get(), readBuffer, sizeof(readBuffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    append(readBuffer, n);
    total += n;
  }
}

void GrainLog::append(const char* data, size_t size) {
  if (fileSize + size > limits::GRAIN_LOG_ROTATE_BYTES) {
    // Rotate in place while the grain runs: log -> log.1 (replacing the older one).
    int result = rename(path.cStr(), kj::str(path, ".1").cStr());
    if (result == 0) {
      KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { open(); })) {
        if (!writeFailed) SS_LOG(WARNING, "grain", "cannot reopen log", e->getDescription());
        writeFailed = true;
        file = nullptr;
      }
    }
  }
  if (file.get() < 0) return;
  while (size > 0) {
    ssize_t n = ::write(file.get(), data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // ENOSPC and friends: the log loses lines, the grain and the daemon carry on.
      int error = n < 0 ? errno : ENOSPC;
      if (!writeFailed) SS_LOG(WARNING, "grain", "cannot write log", path, errnoName(error));
      writeFailed = true;
      return;
    }
    data += n;
    size -= n;
    fileSize += n;
  }
  writeFailed = false;
}

}  // namespace ss::shell
