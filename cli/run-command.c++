// `sandstorm run`: the server in the foreground. One thread, one io_uring ring, everything on it.
#include "cli/run-command.h"

#include "cli/errors.h"

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
    return kj::MainBuilder(context, "Sandstorm " SANDSTORM_VERSION,
                           "Runs the Sandstorm server in the foreground until SIGTERM or SIGINT "
                           "(Ctrl-C), which drain in-flight requests and exit 0.")
        .addOptionWithArg({'p', "port"}, KJ_BIND_METHOD(*this, setPort), "<port>",
                          "Shell port (default 6080; 0 picks a free port).")
        .addOptionWithArg({"listen"}, KJ_BIND_METHOD(*this, setListen), "<address>",
                          "Address to bind (default 127.0.0.1; 0.0.0.0 or :: for all).")
        .addOptionWithArg({"data-dir"}, KJ_BIND_METHOD(*this, setDataDir), "<dir>",
                          "Data directory (default /var/lib/sandstorm as root, else "
                          "~/.local/share/sandstorm).")
        .addOptionWithArg({"ui-dir"}, KJ_BIND_METHOD(*this, setUiDir), "<dir>",
                          "Directory of the web UI (default: the installed or source shell-ui/).")
        .addOptionWithArg({"grain-ports"}, KJ_BIND_METHOD(*this, setGrainPorts), "<first>-<last>",
                          "Ports for grain origins, one per open grain (default 7000-7099).")
        .addOptionWithArg({"wildcard-host"}, KJ_BIND_METHOD(*this, setWildcard), "<*.domain>",
                          "Serve grains at https://grain-<port>.<domain>/ through a TLS proxy "
                          "(docs/nginx-example.conf) instead of http://<host>:<port>/.")
        .addOptionWithArg({"idle-timeout"}, KJ_BIND_METHOD(*this, setIdle), "<seconds>",
                          "Stop a grain after this long without requests (default 120).")
        .addOptionWithArg({"grain-timeout"}, KJ_BIND_METHOD(*this, setGrainTimeout),
                          "<seconds>",
                          "Answer 504 when a grain sends no response head for this long "
                          "(default 310).")
        .addOptionWithArg({"send-timeout"}, KJ_BIND_METHOD(*this, setSendTimeout), "<seconds>",
                          "Drop a client that reads none of its response for this long "
                          "(default 60).")
        .addOptionWithArg({"demo-apps"}, KJ_BIND_METHOD(*this, setDemoApps), "<dir>",
                          "Directory of .spk files installed on first start (default: the "
                          "installed or built demo apps).")
        .addOption({"debug"}, [this]() { setLogLevel(LogLevel::DEBUG); return true; },
                   "Log debug messages.")
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

private:
  kj::MainBuilder::Validity setPort(kj::StringPtr value) {
    char* end;
    unsigned long n = strtoul(value.cStr(), &end, 10);
    if (value.size() == 0 || *end != '\0' || n > 65535) return "port must be 0-65535";
    port = static_cast<uint16_t>(n);
    return true;
  }
  kj::MainBuilder::Validity setListen(kj::StringPtr value) {
    listen = kj::heapString(value);
    return true;
  }
  kj::MainBuilder::Validity setDataDir(kj::StringPtr value) {
    if (value.size() == 0) return "--data-dir must not be empty";
    dataDir = kj::heapString(value);
    return true;
  }
  kj::MainBuilder::Validity setGrainPorts(kj::StringPtr value) {
    unsigned first, last;
    char extra;
    if (sscanf(value.cStr(), "%u-%u%c", &first, &last, &extra) != 2 || first == 0 ||
        last > 65535 || last < first) {
      return "--grain-ports must look like 7000-7099";
    }
    origins.firstPort = static_cast<uint16_t>(first);
    origins.portCount = static_cast<uint16_t>(last - first + 1);
    return true;
  }
  kj::MainBuilder::Validity setWildcard(kj::StringPtr value) {
    if (!value.startsWith("*.") || value.size() < 4 || value.findFirst('/') != nullptr ||
        value.findFirst(':') != nullptr) {
      return "--wildcard-host must look like *.example.com";
    }
    origins.wildcardHost = kj::heapString(value);
    return true;
  }
  kj::MainBuilder::Validity setIdle(kj::StringPtr value) {
    char* end;
    unsigned long n = strtoul(value.cStr(), &end, 10);
    if (value.size() == 0 || *end != '\0' || n == 0 || n > 86400) {
      return "--idle-timeout must be 1-86400 seconds";
    }
    idleSeconds = n;
    return true;
  }
  static kj::Maybe<uint64_t> parseSeconds(kj::StringPtr value) {
    char* end;
    unsigned long n = strtoul(value.cStr(), &end, 10);
    if (value.size() == 0 || *end != '\0' || n == 0 || n > 86400) return nullptr;
    return uint64_t(n);
  }
  kj::MainBuilder::Validity setGrainTimeout(kj::StringPtr value) {
    KJ_IF_MAYBE(n, parseSeconds(value)) {
      origins.grainResponseTimeoutMs = *n * 1000;
      return true;
    }
    return "--grain-timeout must be 1-86400 seconds";
  }
  kj::MainBuilder::Validity setSendTimeout(kj::StringPtr value) {
    KJ_IF_MAYBE(n, parseSeconds(value)) {
      httpOptions.sendTimeoutMs = *n * 1000;
      origins.http.sendTimeoutMs = *n * 1000;
      return true;
    }
    return "--send-timeout must be 1-86400 seconds";
  }
  kj::MainBuilder::Validity setDemoApps(kj::StringPtr value) {
    demoApps = kj::heapString(value);
    return true;
  }
  kj::MainBuilder::Validity setUiDir(kj::StringPtr value) {
    uiDir = kj::heapString(value);
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
    KJ_IF_MAYBE(why, reactor::probeIoUring()) {
      KJ_FAIL_REQUIRE(kj::str("cannot start: ", *why));
    }
    raiseFdLimit();

    kj::String dataPath = dataDir == nullptr ? shell::DataDir::defaultPath() : kj::heapString(dataDir);
    shell::DataDir data(dataPath);
    kj::String uiPath = uiDir == nullptr ? defaultUiDir() : kj::heapString(uiDir);
    shell::StaticFiles ui(uiPath);

    reactor::Reactor reactor;
    kj::EventLoop loop(reactor);
    kj::WaitScope waitScope(loop);

    shell::GrainHostOptions hostOptions;
    hostOptions.bridgePath = findBridge();
    hostOptions.idleTimeoutMs = idleSeconds * 1000;
    shell::GrainHost grainHost(reactor, kj::mv(hostOptions));
    shell::Accounts accounts(data.db());
    shell::Apps apps(data.db(), reactor, data.path());
    shell::Grains grains(data.db(), data.path(), apps, grainHost);
    origins.listenAddress = kj::heapString(listen);
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
      apps.installDemoApps(demoApps == nullptr ? defaultDemoAppsDir() : kj::heapString(demoApps));
      shell::sqlExec(data.db(), "INSERT INTO meta (key, value) VALUES ('demo-apps', 'offered')");
    }

    shell::Shell shell(ui, accounts,
                       kj::heapArray<shell::ApiModule*>({&accounts, &apps, &backups, &grains,
                                                         &sharing, &admin}));
    http::Server server(reactor, shell, httpOptions);

    auto listener = listenTcp(listen, port, limits::LISTEN_BACKLOG);
    uint16_t actualPort = localPort(listener);
    server.listen(kj::mv(listener));

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

    kj::StringPtr shownHost =
        listen == "0.0.0.0" || listen == "::" ? kj::StringPtr("127.0.0.1") : listen.asPtr();
    bool v6 = shownHost.findFirst(':') != nullptr;
    size_t uiFiles = ui.fileCount();
    SS_LOG(INFO, "server", "started", actualPort, dataPath, uiPath, uiFiles);
    auto base = kj::str("http://", v6 ? "[" : "", shownHost, v6 ? "]" : "", ":", actualPort);
    printf("Sandstorm is running at %s/\n", base.cStr());
    if (accounts.needsSetup()) {
      // The link is the only way to create the first account: print it where the person who
      // started the server sees it (`sandstorm admin-token` makes a new one).
      printf("First start: open %s/#/setup/%s to create the administrator account.\n",
             base.cStr(), accounts.createAdminToken().cStr());
    }
    fflush(stdout);

    int signo = stop.promise.wait(waitScope);
    kj::StringPtr signal = strsignal(signo);
    size_t openConnections = server.stats().openConnections;
    SS_LOG(INFO, "server", "shutting down", signal, openConnections);
    // The shell and every grain origin drain together; then grains stop with the host.
    kj::joinPromises(kj::arr(server.drain(limits::SHUTDOWN_DRAIN_MS), grainOrigins.drain()))
        .wait(waitScope);
    uint64_t requests = server.stats().requests;
    SS_LOG(INFO, "server", "stopped", requests);
  }

  kj::ProcessContext& context;
  uint16_t port = 6080;
  kj::String listen = kj::str("127.0.0.1");
  kj::String dataDir;
  kj::String uiDir;
  kj::String demoApps;
  shell::OriginsOptions origins;
  http::ServerOptions httpOptions;
  uint64_t idleSeconds = 120;
  static constexpr int64_t TRASH_DAYS = 30;  // grains in the trash longer than this are deleted
};

}  // namespace

kj::MainFunc runCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<RunCommand>(context));
}

}  // namespace ss::cli
