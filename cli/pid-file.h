// <data-dir>/run/sandstorm.pid: the running server's pid, held with flock() for the server's
// whole life. A pidfile nobody holds is stale (the server died): stop and status check the
// lock, not just the number, so a reused pid is never mistaken for the server.
// <data-dir>/run/sandstorm.url beside it is the URL the server printed (for status).
#pragma once

#include <sys/types.h>

#include <kj/common.h>
#include <kj/string.h>

#include "base/fd.h"

namespace ss::cli {

class PidFile {
public:
  explicit PidFile(kj::StringPtr dataDir);
  // Creates run/ (0700), takes the lock and writes our pid. The fd is close-on-exec, so grains
  // never hold the lock after the server is gone.
  KJ_DISALLOW_COPY(PidFile);

  void setUrl(kj::StringPtr url);

private:
  kj::String dir;
  AutoCloseFd fd;
};

kj::String pidFilePath(kj::StringPtr dataDir);

kj::Maybe<pid_t> runningServer(kj::StringPtr dataDir);
// The pid of the server that holds the pidfile's lock, or null when none does.

kj::Maybe<kj::String> runningServerUrl(kj::StringPtr dataDir);

}  // namespace ss::cli
