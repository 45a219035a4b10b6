// The app, started and supervised by the bridge as the sandbox's init (pid 1).
//
// As pid 1 the bridge inherits every orphan in the sandbox and must reap it, or zombies pile
// up until the pid cgroup limit stops the app from forking. Outside a sandbox (tests, `spk
// dev` without a pid namespace) it becomes a child subreaper (PR_SET_CHILD_SUBREAPER) so the
// same holds. SIGCHLD is handled by waiting for *any* child, which is why KJ's onChildExit()
// (which waits only for the pids it knows) is not used.
//
// SIGTERM, SIGINT and SIGHUP sent to the bridge are forwarded to the app: the platform stops a
// grain by signalling its init.
#pragma once

#include <sys/types.h>

#include <kj/async-unix.h>
#include <kj/async.h>
#include <kj/string.h>

namespace ss::bridge {

class AppProcess {
public:
  static void captureSignals();
  // Before kj::setupAsyncIo(): blocks SIGCHLD, SIGTERM, SIGINT, SIGHUP so that none is missed
  // (they stay pending until the event loop reads them), and ignores SIGPIPE (writes to a closed
  // pipe or socket must fail with EPIPE, not kill the bridge).

  AppProcess(kj::UnixEventPort& port, kj::ArrayPtr<const char* const> argv);
  // Forks and execs argv (PATH lookup, environment inherited). In the child: default signal
  // dispositions, empty signal mask, fd 3 (the platform's RPC socket) closed.
  KJ_DISALLOW_COPY(AppProcess);

  pid_t pid() const { return appPid; }

  kj::Promise<int> exited();
  // The app's wait status (see exitCodeFor). Reaps every other child meanwhile.

  void signal(int signum);
  // Sends `signum` to the app if it is still running.

  void killStragglers();
  // After the app exited: SIGKILL whatever it left behind and reap it. As pid 1 that is every
  // process in the sandbox (kill(-1)); otherwise every process reparented to us, found in /proc.

  static int exitCodeFor(int waitStatus);
  // The bridge's own exit code: the app's, or 128 + signal as shells report it.

private:
  kj::UnixEventPort& port;
  pid_t appPid;
  bool running = true;
  kj::Own<kj::PromiseFulfiller<int>> exitFulfiller;
  kj::ForkedPromise<int> exitPromise;
  kj::Promise<void> reaper;
  kj::Promise<void> forwarders;

  kj::Promise<void> reapLoop();
  kj::Promise<void> forwardLoop(int signum);
  void reapNow();
};

}  // namespace ss::bridge
