// The server's log file for `sandstorm start` (under systemd, stderr goes to the journal
// instead): stdout and stderr point at <data-dir>/log/sandstorm.log, which moves to
// sandstorm.log.1 when it grows past limits::SERVER_LOG_ROTATE_BYTES.
#pragma once

#include <kj/async.h>
#include <kj/string.h>
#include <kj/timer.h>

namespace ss::cli {

class ServerLog {
public:
  explicit ServerLog(kj::StringPtr path);
  // Opens (appending, 0600) and points fds 1 and 2 at it.

  kj::Promise<void> rotateLoop(kj::Timer& timer);
  // Checks the size every limits::SERVER_LOG_CHECK_MS and rotates; never resolves.

  void rotateIfLarge();

private:
  void reopen();
  kj::String path;
};

}  // namespace ss::cli
