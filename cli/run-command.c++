// `sandstorm run`: the server in the foreground. One thread, one io_uring ring, everything on it.
#include "cli/run-command.h"

#include "cli/errors.h"
#include "cli/pid-file.h"
#include "cli/sd-notify.h"
#include "cli/server-log.h"
#include "cli/server-options.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include <kj/async.h>
#include <kj/debug.h>

#include "base/fd.h"
#include "base/limits.h"
#include "base/log.h"
#include "config.h"
#include "http/server.h"
#include "reactor/reactor.h"
#include "reactor/signals.h"
#include "cli/dev-command.h"
#include "shell/accounts.h"
#include "shell/admin.h"
#include "shell/apps.h"
#include "shell/data-dir.h"
#include "shell/grain-backup.h"
#include "shell/grain-host.h"
#include "shell/grains.h"
#include "shell/metrics-page.h"
#include "shell/origins.h"
#include "shell/shell.h"
#include "shell/sql.h"
#include "shell/static-files.h"

namespace ss::cli {

namespace {

kj::String defaultUiDir() {
  // An installed binary finds the UI beside it (<prefix>/bin/sandstorm ->
  // <prefix>/share/sandstorm/shell-ui); a build tree uses the source checkout.
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    kj::StringPtr path(self);
    KJ_IF_MAYBE(slash, path.findLast('/')) {
      auto installed = kj::str(path.slice(0, *slash), "/../share/sandstorm/shell-ui");
      if (access(kj::str(installed, "/index.html").cStr(), R_OK) == 0) return installed;
    }
  }
  return kj::str(SANDSTORM_SOURCE_DIR, "/shell-ui");
}

kj::String defaultDemoAppsDir() {
  // Installed: <prefix>/share/sandstorm/apps; a build tree: <build>/apps (built by `demo-apps`).
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    kj::StringPtr path(self);
    KJ_IF_MAYBE(slash, path.findLast('/')) {
      auto installed = kj::str(path.slice(0, *slash), "/../share/sandstorm/apps");
      if (access(installed.cStr(), R_OK) == 0) return installed;
    }
  }
  return kj::str(SANDSTORM_BUILD_DIR, "/apps");
}

void raiseFdLimit() {
  // Each connection is a descriptor; the default soft limit (1024) would cap us far below
  // limits::MAX_CONNECTIONS. Raise the soft limit to the hard one.
  rlimit limit;
  KJ_SYSCALL(getrlimit(RLIMIT_NOFILE, &limit));
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    KJ_SYSCALL(setrlimit(RLIMIT_NOFILE, &limit));
  }
}

class RunCommand {
public:
  explicit RunCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(context, "Sandstorm " SANDSTORM_VERSION,
                            "Runs the Sandstorm server in the foreground until SIGTERM or SIGINT "
                            "(Ctrl-C), which drain in-flight requests and exit 0. This is what "
                            "systemd runs (Type=notify: READY=1 once the port accepts "
                            "connections); `sandstorm start` runs it in the background.");
    options.addAll(builder);
    builder
        .addOptionWithArg({"log-file"}, KJ_BIND_METHOD(*this, setLogFile), "<file>",
                          "Write stdout and stderr to this file, rotated past 8 MiB (used by "
                          "`sandstorm start`).")
        .addOptionWithArg({"ready-fd"}, KJ_BIND_METHOD(*this, setReadyFd), "<fd>",
                          "Write the startup message to this fd once serving, then close it "
                          "(used by `sandstorm start`).")
        .callAfterParsing(KJ_BIND_METHOD(*this, run));
    return builder.build();
  }

private:
  kj::MainBuilder::Validity setLogFile(kj::StringPtr value) {
    if (value.size() == 0) return "must not be empty";
    logFile = absolutePath(value);
    return true;
  }
  kj::MainBuilder::Validity setReadyFd(kj::StringPtr value) {
    char* end;
    long n = strtol(value.cStr(), &end, 10);
    if (value.size() == 0 || *end != '\0' || n < 3 || n > 1023 || fcntl(int(n), F_GETFD) < 0) {
      return "must be an open file descriptor above 2";
    }
    // Ours from now on: grains must not inherit it (start waits for its EOF).
    fcntl(int(n), F_SETFD, FD_CLOEXEC);
    readyFd = AutoCloseFd(int(n));
    return true;
  }

  kj::MainBuilder::Validity run() {
    // Problems a person can fix become one clear line and exit 1; bugs keep their trace.
    kj::Maybe<kj::String> failure;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { serve(); })) {
      failure = userMessage(*e);
    }
    KJ_IF_MAYBE(f, failure) {
      context.exitError(kj::str("sandstorm: ", *f));
    }
    context.exit();
    return true;  // not reached: exit() does not return
  }

  void serve() {
    signal(SIGPIPE, SIG_IGN);
    // The log first: whatever goes wrong next should be in it (`start` shows its tail).
    kj::Maybe<ServerLog> log;
    KJ_IF_MAYBE(path, logFile) log.emplace(*path);

    Config config = options.resolve("run");
    // Every line from here on (ours and KJ's) in the configured format.
    setLogFormat(config.logFormat.orDefault(kj::str("text")) == "json" ? LogFormat::JSON
                                                                      : LogFormat::TEXT);
    detectJournal();
    LogBridge kjLogs;
    KJ_IF_MAYBE(why, reactor::probeIoUring()) {
      KJ_FAIL_REQUIRE(kj::str("cannot start: ", *why));
    }
    raiseFdLimit();

    kj::String dataPath = dataDirOf(config);
    // The pidfile lock is taken before the data directory's and released after it (reverse
    // destruction order): once `stop` sees it free, a new server can take the directory.
    makeDirectories(dataPath, 0711);  // as DataDir makes it: grains traverse it
    PidFile pidFile(dataPath);
    shell::DataDir data(dataPath);
    kj::String uiPath = config.uiDir == nullptr ? defaultUiDir()
                                                : kj::heapString(KJ_ASSERT_NONNULL(config.uiDir));
    shell::StaticFiles ui(uiPath);
    KJ_IF_MAYBE(user, config.serverUser) {
      // Honest about SERVER_USER (README "Running as a service"): grain sandboxes need root
      // (cgroups, uid mapping), so the server does not switch to it.
      if (getuid() == 0) {
        kj::StringPtr serverUser = *user;
        SS_LOG(INFO, "server", "SERVER_USER is not used: the server keeps root for the grain "
               "sandboxes; grains run as their own unprivileged uid", serverUser);
      }
    }

    reactor::Reactor reactor;
    kj::EventLoop loop(reactor);
    kj::WaitScope waitScope(loop);

    shell::GrainHostOptions hostOptions;
    hostOptions.bridgePath = findBridge();
    hostOptions.idleTimeoutMs = config.idleTimeoutSeconds.orDefault(120) * 1000;
    KJ_IF_MAYBE(mib, config.grainMemoryMib) hostOptions.limits.memoryBytes = *mib << 20;
    KJ_IF_MAYBE(n, config.grainMaxProcesses) hostOptions.limits.pidsMax = *n;
    shell::GrainHost grainHost(reactor, kj::mv(hostOptions));
    shell::Accounts accounts(data.db());
    shell::Apps apps(data.db(), reactor, data.path());
    shell::Grains grains(data.db(), data.path(), apps, grainHost);

    kj::StringPtr listen = DEFAULT_BIND_IP;
    KJ_IF_MAYBE(ip, config.bindIp) listen = *ip;
    http::HttpMetrics httpMetrics;  // the shell's and every grain port's, for /metrics
    http::ServerOptions httpOptions;
    httpOptions.metrics = &httpMetrics;
    shell::OriginsOptions origins;
    origins.http.metrics = &httpMetrics;
    origins.listenAddress = kj::heapString(listen);
    KJ_IF_MAYBE(range, config.grainPorts) {
      origins.firstPort = range->first;
      origins.portCount = range->count;
    }
    KJ_IF_MAYBE(host, config.wildcardHost) origins.wildcardHost = kj::heapString(*host);
    KJ_IF_MAYBE(n, config.grainTimeoutSeconds) origins.grainResponseTimeoutMs = *n * 1000;
    KJ_IF_MAYBE(n, config.sendTimeoutSeconds) {
      httpOptions.sendTimeoutMs = *n * 1000;
      origins.http.sendTimeoutMs = *n * 1000;
    }
    shell::GrainOrigins grainOrigins(reactor, data.db(), grainHost, kj::mv(origins),
        [&grains](kj::StringPtr grainId) { return grains.specFor(grainId); });
    grains.setOrigins(grainOrigins);
    apps.onUpgrade = [&](kj::StringPtr appId) {
      grains.restartApp(appId);
    };
    shell::Sharing sharing(data.db(), grains, grainOrigins);
    shell::Admin admin(data.db(), grainHost, data.path());
    shell::GrainBackups backups(data.db(), reactor, data.path(), apps, grains, grainHost);
    grains.purgeTrash(TRASH_DAYS * 86400);

    // First start: offer the demo apps (once: an admin who uninstalls them keeps them gone).
    if (shell::sqlInteger(data.db(), "SELECT COUNT(*) FROM meta WHERE key = 'demo-apps'") == 0) {
      if (config.installDemoApps.orDefault(true)) {
        apps.installDemoApps(config.demoAppsDir == nullptr
                                 ? defaultDemoAppsDir()
                                 : kj::heapString(KJ_ASSERT_NONNULL(config.demoAppsDir)));
      }
      shell::sqlExec(data.db(), "INSERT INTO meta (key, value) VALUES ('demo-apps', 'offered')");
    }

    shell::Shell shell(ui, accounts,
                       kj::heapArray<shell::ApiModule*>({&accounts, &apps, &backups, &grains,
                                                         &sharing, &admin}));
    http::Server server(reactor, shell, httpOptions);

    auto listener = listenTcp(listen, config.port.orDefault(DEFAULT_PORT), limits::LISTEN_BACKLOG);
    uint16_t actualPort = localPort(listener);
    server.listen(kj::mv(listener));

    // /metrics and /api/health on their own address, never the shell port (behind a proxy
    // every shell client is loopback): off unless asked for.
    shell::MetricsPage metricsPage({reactor, httpMetrics, grainHost, apps, data.db()});
    kj::Maybe<kj::Own<http::Server>> metricsServer;
    KJ_IF_MAYBE(bind, config.metricsBind) {
      auto address = KJ_ASSERT_NONNULL(parseListenAddress(*bind));
      auto fd = listenTcp(address.host, address.port, limits::LISTEN_BACKLOG);
      uint16_t metricsPort = localPort(fd);
      kj::StringPtr metricsAddress = address.host;
      auto& s = metricsServer.emplace(kj::heap<http::Server>(reactor, metricsPage));
      s->listen(kj::mv(fd));
      SS_LOG(INFO, "server", "metrics listening", metricsAddress, metricsPort);
    }

    auto stop = kj::newPromiseAndFulfiller<int>();
    bool stopping = false;
    reactor::SignalWatcher signals(reactor, {SIGTERM, SIGINT, SIGHUP}, [&](int signo) {
      if (!stopping) {
        stopping = true;
        stop.fulfiller->fulfill(kj::mv(signo));
      } else if (signo == SIGINT) {
        SS_LOG(WARNING, "server", "second interrupt: exiting without draining");
        _exit(1);
      }
    });

    size_t uiFiles = ui.fileCount();
    SS_LOG(INFO, "server", "started", actualPort, dataPath, uiPath, uiFiles);
    auto base = baseUrlOf(config, actualPort);
    pidFile.setUrl(kj::str(base, "/"));
    auto message = kj::str("Sandstorm is running at ", base, "/\n");
    if (accounts.needsSetup()) {
      // The link is the only way to create the first account: print it where the person who
      // started the server sees it (`sandstorm admin-token` makes a new one).
      message = kj::str(message, "First start: open ", base, "/#/setup/",
                        accounts.createAdminToken(), " to create the administrator account.\n");
    }
    fputs(message.cStr(), stdout);
    fflush(stdout);
    KJ_IF_MAYBE(fd, readyFd) {
      // `start` is waiting for this (then EOF). It may have gone (Ctrl-C): that is fine.
      ssize_t ignored = write(fd->get(), message.begin(), message.size());
      (void)ignored;
      readyFd = nullptr;
    }
    // The port accepts connections and the store is open: systemd may call us started.
    sdNotify(kj::str("READY=1\nSTATUS=", base, "/"));

    kj::Promise<void> background = kj::READY_NOW;
    KJ_IF_MAYBE(usec, sdWatchdogUsec()) {
      // From the reactor's own timer: a wedged loop stops the pings and systemd restarts us.
      background = watchdogLoop(reactor.timer(), *usec / 2);
    }
    KJ_IF_MAYBE(l, log) {
      background = kj::joinPromises(kj::arr(kj::mv(background), l->rotateLoop(reactor.timer())));
    }
    background = background.eagerlyEvaluate([](kj::Exception&& e) {
      SS_LOG(ERROR, "server", "background task failed", e);
    });

    int signo = stop.promise.wait(waitScope);
    sdNotify("STOPPING=1");
    kj::StringPtr signal = strsignal(signo);
    size_t openConnections = server.stats().openConnections;
    SS_LOG(INFO, "server", "shutting down", signal, openConnections);
    // The shell and every grain origin drain together; then grains stop with the host.
    kj::Vector<kj::Promise<void>> drains;
    drains.add(server.drain(limits::SHUTDOWN_DRAIN_MS));
    drains.add(grainOrigins.drain());
    KJ_IF_MAYBE(m, metricsServer) drains.add((*m)->drain(limits::SHUTDOWN_DRAIN_MS));
    kj::joinPromises(drains.releaseAsArray()).wait(waitScope);
    uint64_t requests = server.stats().requests;
    SS_LOG(INFO, "server", "stopped", requests);
  }

  static kj::Promise<void> watchdogLoop(kj::Timer& timer, uint64_t intervalUsec) {
    sdNotify("WATCHDOG=1");
    return timer.afterDelay(intervalUsec * kj::MICROSECONDS).then([&timer, intervalUsec]() {
      return watchdogLoop(timer, intervalUsec);
    });
  }

  kj::ProcessContext& context;
  ServerOptions options;
  kj::Maybe<kj::String> logFile;
  kj::Maybe<AutoCloseFd> readyFd;
  static constexpr int64_t TRASH_DAYS = 30;  // grains in the trash longer than this are deleted
};

}  // namespace

kj::MainFunc runCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<RunCommand>(context));
}

}  // namespace ss::cli
