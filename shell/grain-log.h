// A grain's stdout/stderr, copied by the daemon from a pipe into the grain's log file.
//
// The grain never gets the file itself: with a plain O_APPEND file an app that prints in a
// loop fills the disk (Sandstorm's "TODO(soon): Rotate logs", facts/security.md R-6). Through
// the pipe the daemon rotates the file at a size limit while the grain runs and reads at a
// bounded rate, so a flooding app blocks in its own write() (limits::GRAIN_LOG_*).
#pragma once

#include <kj/async.h>
#include <kj/string.h>

#include "base/clock.h"
#include "base/fd.h"
#include "reactor/reactor.h"

namespace ss::shell {

class GrainLog {
public:
  GrainLog(reactor::Reactor& reactor, kj::StringPtr path);
  // Opens (rotating first if it is already big) the log and makes the pipe.
  KJ_DISALLOW_COPY(GrainLog);

  int writeEnd() const { return pipeWrite.get(); }
  // The grain's stdout/stderr; close it (closeWriteEnd) once the grain has its copy, so the
  // pipe ends when the grain's last process does.
  void closeWriteEnd() { pipeWrite = nullptr; }

  void start();
  // Begins copying (on the reactor) until the pipe ends.

  void drainNow();
  // Copies what is still in the pipe, ignoring the rate limit (the grain has exited: its last
  // words are what the error page and the log view show).

private:
  kj::Promise<void> pump();
  kj::Promise<void> copySome();
  void append(const char* data, size_t size);
  void open();

  reactor::Reactor& reactor;
  kj::String path;
  AutoCloseFd file;
  uint64_t fileSize = 0;
  AutoCloseFd pipeRead;
  AutoCloseFd pipeWrite;
  MonoMs windowStart = 0;
  uint64_t windowBytes = 0;
  bool writeFailed = false;
  kj::Promise<void> task = nullptr;
};

}  // namespace ss::shell
