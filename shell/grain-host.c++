#include "shell/grain-host.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <capnp/rpc.h>
#include <kj/debug.h>

#include "base/clock.h"
#include "base/fd.h"
#include "base/log.h"
#include "base/syscall.h"
#include "sandbox/limits.h"
#include "shell/grain-log.h"

namespace ss::shell {

namespace {

constexpr uint64_t CRASH_WINDOW_MS = 10'000;      // an exit sooner than this after start = crash
constexpr uint64_t MAX_BACKOFF_MS = 30'000;       // longest wait between restarts of a crasher
constexpr uint64_t WAIT_FOR_BACKOFF_MS = 2'000;   // a request waits at most this long for one
constexpr uint32_t MAX_FDS_PER_MESSAGE = 4;       // pipes travel with calls; nothing needs more
constexpr uint32_t DEV_SESSION_PERMISSION_BITS = 64;  // more than any app defines (Sandstorm: ~10)


void makeGrainDir(kj::StringPtr path, uid_t uid, gid_t gid) {
  KJ_SYSCALL_HANDLE_ERRORS(mkdir(path.cStr(), 0700)) {
    case EEXIST: return;
    default: KJ_FAIL_SYSCALL("cannot create grain storage directory", error, path);
  }
  // The grain runs as its own unprivileged uid: it must own its storage.
  if (geteuid() == 0) {
    KJ_SYSCALL(chown(path.cStr(), uid, gid), path);
  }
}

}  // namespace

kj::String readLogTail(kj::StringPtr path, size_t maxBytes) {
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kj::str();
  AutoCloseFd owned(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return kj::str();
  off_t start = st.st_size > off_t(maxBytes) ? st.st_size - maxBytes : 0;
  auto text = kj::heapString(st.st_size - start);
  ssize_t n = pread(fd, text.begin(), text.size(), start);
  if (n <= 0) return kj::str();
  return kj::heapString(text.begin(), n);
}

// One grain: its process, its RPC connection, its idle timer.
class GrainHost::Grain final: private reactor::Deadline::Handler {
public:
  Grain(GrainHost& host, const GrainSpec& spec)
      : host(host),
        grainId(kj::heapString(spec.grainId)),
        packageDir(kj::heapString(spec.packageDir)),
        varDir(kj::heapString(spec.varDir)),
        argv(KJ_MAP(a, spec.argv) { return kj::heapString(a); }),
        env(KJ_MAP(e, spec.env) { return kj::heapString(e); }),
        logPath(kj::heapString(spec.logPath)) {}

  kj::Promise<kj::Own<Lease>> acquire();
  void stop(kj::StringPtr why, bool fromCallback = true);
  // `fromCallback`: we may be inside one of the grain's own promise continuations, so its state
  // is destroyed on a later turn; the host's destructor tears down synchronously instead.
  bool isRunning() const { return running != nullptr; }
  bool isRun(uint64_t generation) const { return running != nullptr && starts == generation; }
  bool isStarting() const {
    KJ_IF_MAYBE(run, running) return !(*run)->ready;
    return false;
  }
  void markReady(uint64_t generation) {
    // The first session of this run was answered: the start is complete.
    KJ_IF_MAYBE(run, running) {
      if (generation != starts || (*run)->ready) return;
      (*run)->ready = true;
      host.counters.startsOk++;
      host.counters.startDuration.observeNs(monotonicNowNs() - (*run)->spawnedNs);
    }
  }
  GrainStatus status() {
    GrainStatus result;
    result.running = running != nullptr;
    result.starts = starts;
    result.lastExit = kj::heapString(lastExit);
    result.oomKills = oomKills;
    result.pidsMaxHits = pidsMaxHits;
    KJ_IF_MAYBE(run, running) {
      KJ_IF_MAYBE(cgroup, (*run)->process->cgroup()) {
        auto usage = cgroup->usage();
        auto events = cgroup->events();
        result.memoryBytes = usage.memoryBytes;
        result.cpuUsec = usage.cpuUsec;
        result.oomKills += events.oomKills;
        result.pidsMaxHits += events.pidsMaxHits;
      }
    }
    return result;
  }
  void release();

  reactor::Deadline idle{*this};

private:
  struct Running {
    kj::Own<GrainLog> log;  // before `process`: destroyed after it
    kj::Own<sandbox::SandboxedProcess> process;
    kj::Own<reactor::ReactorStream> stream;
    kj::Own<capnp::TwoPartyVatNetwork> network;
    kj::Own<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
    rpc::MainView::Client mainView = nullptr;
    kj::Maybe<kj::ForkedPromise<rpc::WebSession::Client>> session;
    kj::Promise<void> exitWatcher = nullptr;
    MonoMs startedAt = 0;
    MonoNs spawnedNs = 0;
    bool ready = false;  // its first session was answered (GrainHostMetrics)
  };
  class LeaseImpl;

  void start();
  void onExit();
  void onDeadline() override {
    host.counters.idleStops++;
    stop("idle");
  }

  GrainHost& host;
  kj::String grainId;
  kj::String packageDir;
  kj::String varDir;
  kj::Array<kj::String> argv;
  kj::Array<kj::String> env;
  kj::String logPath;

  kj::Maybe<kj::Own<Running>> running;
  unsigned leases = 0;
  uint64_t starts = 0;
  unsigned recentCrashes = 0;
  MonoMs nextStartAllowed = 0;
  kj::String lastExit;
  uint64_t oomKills = 0;     // of runs that ended (the running one's are read live)
  uint64_t pidsMaxHits = 0;
};

class GrainHost::Grain::LeaseImpl final: public GrainHost::Lease {
public:
  LeaseImpl(Grain& grain, Running& running): grain(grain), run(running) { grain.leases++; }
  ~LeaseImpl() noexcept(false) { grain.release(); }

  rpc::MainView::Client mainView() override { return run.mainView; }

  kj::Promise<rpc::WebSession::Client> webSession() override {
    KJ_IF_MAYBE(session, run.session) return session->addBranch();
    auto request = run.mainView.newSessionRequest();
    auto user = request.initUserInfo();
    user.setDisplayName("Developer");
    // The developer owns the grain (Sandstorm's `spk dev`): every permission the app defines.
    // The bridge keeps only as many bits as the app's viewInfo names.
    auto bits = user.initPermissions(DEV_SESSION_PERMISSION_BITS);
    for (uint i = 0; i < DEV_SESSION_PERMISSION_BITS; i++) bits.set(i, true);
    request.setSessionType(capnp::typeId<rpc::WebSession>());
    auto params = request.initSessionParams().initAs<rpc::WebSession::Params>();
    params.setBasePath("http://localhost");
    auto forked = request.send()
        .then([&grain = grain, generation = grain.starts](auto response) {
          grain.markReady(generation);
          return response.getSession().template castAs<rpc::WebSession>();
        })
        .fork();
    auto branch = forked.addBranch();
    run.session = kj::mv(forked);
    return branch;
  }

  kj::String logTail(size_t maxBytes) override { return readLogTail(grain.logPath, maxBytes); }

  kj::Promise<rpc::WebSession::Client> newWebSession(
      kj::Function<void(rpc::UserInfo::Builder)> fillUser, kj::StringPtr basePath,
      kj::ArrayPtr<const kj::byte> tabId) override {
    auto request = run.mainView.newSessionRequest();
    fillUser(request.initUserInfo());
    request.setSessionType(capnp::typeId<rpc::WebSession>());
    request.setTabId(tabId);
    auto params = request.initSessionParams().initAs<rpc::WebSession::Params>();
    params.setBasePath(basePath);
    return request.send().then([&grain = grain, generation = grain.starts](auto response) {
      grain.markReady(generation);  // (the Grain outlives its runs: the host keeps it)
      return response.getSession().template castAs<rpc::WebSession>();
    });
  }

  uint64_t generation() override { return grain.starts; }

private:
  Grain& grain;
  Running& run;
};

void GrainHost::Grain::release() {
  KJ_ASSERT(leases > 0);
  if (--leases == 0 && running != nullptr) {
    host.idleQueue.arm(idle, host.reactor.now());
  }
}

kj::Promise<kj::Own<GrainHost::Lease>> GrainHost::Grain::acquire() {
  if (running == nullptr) {
    MonoMs now = host.reactor.now();
    if (now < nextStartAllowed) {
      MonoMs wait = nextStartAllowed - now;
      if (wait > WAIT_FOR_BACKOFF_MS) {
        return KJ_EXCEPTION(DISCONNECTED,
            kj::str("the app keeps crashing; next restart in ", (wait + 999) / 1000, " s. ",
                    lastExit, ". Last lines of its log:\n", readLogTail(logPath, 2048)));
      }
      return host.reactor.timer().afterDelay(wait * kj::MILLISECONDS).then([this]() {
        return acquire();
      });
    }
    KJ_ON_SCOPE_FAILURE(host.counters.startsFailed++);
    start();
  }
  idle.disarm();
  auto& run = *KJ_ASSERT_NONNULL(running);
  return kj::Own<Lease>(kj::heap<LeaseImpl>(*this, run));
}

void GrainHost::Grain::start() {
  KJ_REQUIRE(argv.size() >= 1 && argv[0] == "/sandstorm-http-bridge",
             "this package's command does not use /sandstorm-http-bridge; apps that speak "
             "Sandstorm's raw Cap'n Proto API are not supported yet", grainId);

  sandbox::GrainConfig config;
  config.grainId = kj::heapString(grainId);
  config.packageDir = kj::heapString(packageDir);
  config.varDir = kj::heapString(varDir);
  for (auto& a: argv) config.argv.add(kj::heapString(a));
  for (auto& e: env) config.env.add(kj::heapString(e));
  config.limits = host.options.limits;
  config.requireCgroup = host.options.requireCgroup;
  config.extraBinds.add(sandbox::BindMount{kj::heapString(host.options.bridgePath),
                                           kj::str("/sandstorm-http-bridge")});
  config.initIsBridge = true;
  makeGrainDir(varDir, config.hostUid, config.hostGid);
  auto plan = sandbox::planFor(config);

  auto log = kj::heap<GrainLog>(host.reactor, logPath);
  auto pair = makeSocketPair(0, false);
  sandbox::SpawnIo io;
  io.stdoutFd = log->writeEnd();
  io.stderrFd = log->writeEnd();
  auto run = kj::heap<Running>();
  run->process = kj::heap<sandbox::SandboxedProcess>(
      sandbox::spawnSandboxed(host.sandboxHost, plan, pair.second, io));
  pair.second = nullptr;  // the grain has its copy as fd 3
  log->closeWriteEnd();   // and of its output pipe: the pipe ends with its last process
  log->start();
  run->log = kj::mv(log);

  run->stream = kj::heap<reactor::ReactorStream>(host.reactor, kj::mv(pair.first));
  run->network = kj::heap<capnp::TwoPartyVatNetwork>(
      *run->stream, MAX_FDS_PER_MESSAGE, capnp::rpc::twoparty::Side::SERVER);
  run->rpc = kj::heap<capnp::RpcSystem<capnp::rpc::twoparty::VatId>>(
      capnp::makeRpcClient(*run->network));
  capnp::word scratch[4];
  memset(scratch, 0, sizeof(scratch));
  capnp::MallocMessageBuilder message(scratch);
  auto vatId = message.getRoot<capnp::rpc::twoparty::VatId>();
  vatId.setSide(capnp::rpc::twoparty::Side::CLIENT);
  run->mainView = run->rpc->bootstrap(vatId).castAs<rpc::MainView>();
  run->startedAt = host.reactor.now();
  run->spawnedNs = monotonicNowNs();
  run->exitWatcher = host.reactor.whenReadable(run->process->pidfd())
      .then([this]() { onExit(); })
      .eagerlyEvaluate([this](kj::Exception&& e) {
        SS_LOG(ERROR, "grain", "watching grain process failed", grainId, e.getDescription());
      });
  starts++;
  pid_t pid = run->process->pid();
  SS_LOG(INFO, "grain", "started", grainId, pid);
  running = kj::mv(run);
}

void GrainHost::Grain::onExit() {
  auto run = kj::mv(KJ_ASSERT_NONNULL(running));
  running = nullptr;
  idle.disarm();
  if (!run->ready) host.counters.startsFailed++;
  KJ_IF_MAYBE(status, run->process->tryWait()) {
    lastExit = status->describe();
    oomKills += status->events.oomKills;
    pidsMaxHits += status->events.pidsMaxHits;
  } else {
    lastExit = kj::str("exited");
  }
  MonoMs now = host.reactor.now();
  if (now - run->startedAt < CRASH_WINDOW_MS) {
    recentCrashes++;
    uint64_t backoff = std::min<uint64_t>(MAX_BACKOFF_MS, 250ull << std::min(recentCrashes, 7u));
    nextStartAllowed = now + backoff;
  } else {
    recentCrashes = 0;
  }
  SS_LOG(WARNING, "grain", "stopped by itself", grainId, lastExit);
  run->log->drainNow();  // its last words, for the error page and the log view
  host.destroyLater(kj::mv(run));  // we are inside its exit watcher
}

void GrainHost::Grain::stop(kj::StringPtr why, bool fromCallback) {
  KJ_IF_MAYBE(r, running) {
    auto run = kj::mv(*r);
    running = nullptr;
    idle.disarm();
    run->process->kill();
    KJ_IF_MAYBE(status, run->process->tryWait()) lastExit = status->describe();
    // The process and its cgroup go now, not with the rest of the run on a later turn: a new
    // run of this grain (same cgroup name) may start before that turn, and the old cgroup's
    // teardown kills whatever is in it. (Found by tests/durability: a request retried on a
    // fresh start right after the app was killed had its new run killed.)
    run->exitWatcher = nullptr;
    run->process = nullptr;
    run->log->drainNow();
    SS_LOG(INFO, "grain", "stopped", grainId, why);
    if (fromCallback) host.destroyLater(kj::mv(run));
  }
}

// ---- GrainHost ------------------------------------------------------------------------------

GrainHost::GrainHost(reactor::Reactor& reactor, GrainHostOptions options)
    : reactor(reactor), options(kj::mv(options)),
      sandboxHost(sandbox::SandboxHost::detect()),
      idleQueue(this->options.idleTimeoutMs) {
  reactor.addDeadlineQueue(idleQueue);
}

GrainHost::~GrainHost() noexcept(false) {
  for (auto& entry: grains) entry.value->stop("server shutting down", false);
  // Grains stopped from their own callbacks are still queued for destruction: destroy them now,
  // while the reactor and the event loop they use still exist.
  pendingDestruction = nullptr;
  reactor.removeDeadlineQueue(idleQueue);
}

void GrainHost::taskFailed(kj::Exception&& exception) {
  SS_LOG(ERROR, "grain", "deferred teardown failed", exception.getDescription());
}

kj::Promise<kj::Own<GrainHost::Lease>> GrainHost::acquire(const GrainSpec& spec) {
  auto& grain = grains.findOrCreate(spec.grainId, [&]() {
    return kj::HashMap<kj::String, kj::Own<Grain>>::Entry{
        kj::heapString(spec.grainId), kj::heap<Grain>(*this, spec)};
  });
  return grain->acquire();
}

void GrainHost::stop(kj::StringPtr grainId) {
  KJ_IF_MAYBE(grain, grains.find(grainId)) (*grain)->stop("requested");
}

void GrainHost::stopDeadRun(kj::StringPtr grainId, uint64_t generation) {
  KJ_IF_MAYBE(grain, grains.find(grainId)) {
    if ((*grain)->isRun(generation)) (*grain)->stop("its app or bridge is gone");
  }
}

GrainStatus GrainHost::status(kj::StringPtr grainId) {
  KJ_IF_MAYBE(grain, grains.find(grainId)) return (*grain)->status();
  return GrainStatus();
}

size_t GrainHost::startingCount() const {
  size_t count = 0;
  for (auto& entry: grains) {
    if (entry.value->isStarting()) count++;
  }
  return count;
}

uint64_t GrainHost::oomKillsTotal() {
  uint64_t total = 0;
  for (auto& entry: grains) total += entry.value->status().oomKills;
  return total;
}

size_t GrainHost::runningCount() const {
  size_t count = 0;
  for (auto& entry: grains) {
    if (entry.value->isRunning()) count++;
  }
  return count;
}

}  // namespace ss::shell
