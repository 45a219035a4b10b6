// Running grains: each grain is one sandbox (sandbox/) whose first process is our
// legacy-bridge, reached over Cap'n Proto on the grain's fd 3, on the daemon's one ring.
//
// Lifecycle: a grain starts on first use (lazy), serves sessions, and is killed after
// `idleTimeoutMs` with no request in flight; the next request starts it again. Its whole
// process tree dies with it (pid namespace + cgroup). A grain that exits on its own is
// restarted on the next request, with back-off when it keeps crashing; while backing off, or
// when it cannot start at all, requests fail fast with the reason and the tail of its log.
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async.h>
#include <kj/map.h>

#include "base/histogram.h"
#include "reactor/async-stream.h"
#include "reactor/reactor.h"
#include "rpc/grain.capnp.h"
#include "rpc/web-session.capnp.h"
#include "sandbox/plan.h"
#include "sandbox/spawn.h"

namespace ss::shell {

struct GrainSpec {
  kj::String grainId;          // [A-Za-z0-9_-], names the cgroup and the log
  kj::String packageDir;       // unpacked, read-only package (the grain's "/")
  kj::String varDir;           // the grain's storage (its /var); created if missing
  kj::Array<kj::String> argv;  // the manifest's command, e.g. /sandstorm-http-bridge 8000 -- ...
  kj::Array<kj::String> env;   // the manifest's environ, "KEY=VALUE"
  kj::String logPath;          // the app's stdout/stderr (appended; rotated at a size limit)
};

struct GrainHostOptions {
  kj::String bridgePath;            // host path of our sandstorm-http-bridge binary
  uint64_t idleTimeoutMs = 120'000; // no request in flight for this long -> the grain stops
  sandbox::Limits limits = sandbox::Limits::defaults();
  bool requireCgroup = true;
};

struct GrainStatus {
  bool running = false;
  uint64_t starts = 0;
  kj::String lastExit;   // "exited with status 1", "killed by signal 9: out of memory ..."
  uint64_t memoryBytes = 0;  // now, from its cgroup (0 when stopped)
  uint64_t cpuUsec = 0;      // this run's CPU time so far
  uint64_t oomKills = 0;     // since the daemon started: processes the kernel OOM-killed
  uint64_t pidsMaxHits = 0;  // since the daemon started: forks refused by the process limit
};

struct GrainHostMetrics {
  // For /metrics; plain counters on the reactor thread.
  uint64_t startsOk = 0;      // the bridge answered the run's first session
  uint64_t startsFailed = 0;  // spawning failed, or the run ended before its first session
  uint64_t idleStops = 0;
  Histogram startDuration{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
  // Spawn until the bridge answers the first session (sandbox and bridge up; the app's own
  // start is not included: requests wait for its port inside the bridge).
};

class GrainHost final: public kj::TaskSet::ErrorHandler {
public:
  GrainHost(reactor::Reactor& reactor, GrainHostOptions options);
  ~GrainHost() noexcept(false);
  KJ_DISALLOW_COPY(GrainHost);

  class Lease;
  kj::Promise<kj::Own<Lease>> acquire(const GrainSpec& spec);
  // A running grain, started if needed. While a Lease exists the grain counts as busy (no idle
  // kill). Fails (DISCONNECTED) with a readable reason and the log tail if it cannot start.

  void stop(kj::StringPtr grainId);
  // Kills the grain now (e.g. before an upgrade or delete). Sessions on it fail.

  void stopDeadRun(kj::StringPtr grainId, uint64_t generation);
  // A request on this run found its app or bridge gone (killed, crashed) before the exit was
  // seen: end that run now, so the next acquire() starts a fresh one instead of waiting for the
  // exit to be noticed. A later run (another generation) is left alone.

  GrainStatus status(kj::StringPtr grainId);
  size_t runningCount() const;
  size_t startingCount() const;  // running, first session not answered yet
  uint64_t oomKillsTotal();
  // Processes OOM-killed in grains since the daemon started (ended runs, plus the running ones'
  // cgroup memory events); reads each running grain's cgroup, so for scrapes, not hot paths.
  const GrainHostMetrics& metrics() const { return counters; }

private:
  class Grain;
  template <typename T>
  void destroyLater(kj::Own<T> object) {
    // On a later turn: we may be inside one of the object's own continuations.
    pendingDestruction->add(kj::evalLater([object = kj::mv(object)]() {}));
  }
  void taskFailed(kj::Exception&& exception) override;

  reactor::Reactor& reactor;
  GrainHostOptions options;
  sandbox::SandboxHost sandboxHost;
  reactor::DeadlineQueue idleQueue;
  kj::HashMap<kj::String, kj::Own<Grain>> grains;
  GrainHostMetrics counters;
  kj::Own<kj::TaskSet> pendingDestruction = kj::heap<kj::TaskSet>(*this);
};

class GrainHost::Lease {
public:
  virtual ~Lease() noexcept(false) = default;
  virtual rpc::MainView::Client mainView() = 0;
  virtual kj::Promise<rpc::WebSession::Client> webSession() = 0;
  // The grain's default web session (one per grain start, shared by callers): the dev server
  // and tests use it; the shell opens one per user session with its own identity.
  virtual kj::String logTail(size_t maxBytes = 4096) = 0;

  virtual kj::Promise<rpc::WebSession::Client> newWebSession(
      kj::Function<void(rpc::UserInfo::Builder)> fillUser, kj::StringPtr basePath,
      kj::ArrayPtr<const kj::byte> tabId) = 0;
  // A session for one person (their name, identity and permissions) on this run of the grain.
  virtual uint64_t generation() = 0;
  // Which start of the grain this lease is on: sessions from an earlier start are dead.
};

kj::String readLogTail(kj::StringPtr path, size_t maxBytes);

}  // namespace ss::shell
