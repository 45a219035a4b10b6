// `sandstorm start`: the daemon. One thread, one io_uring ring, everything on it.
#include "cli/start-command.h"

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
#include "shell/data-dir.h"
#include "shell/shell.h"
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

class StartCommand {
public:
  explicit StartCommand(kj::ProcessContext& context): context(context) {}

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
    shell::Shell shell(ui);

    reactor::Reactor reactor;
    kj::EventLoop loop(reactor);
    kj::WaitScope waitScope(loop);
    http::Server server(reactor, shell);

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
    printf("Sandstorm is running at http://%s%s%s:%u/\n", v6 ? "[" : "", shownHost.cStr(),
           v6 ? "]" : "", actualPort);
    fflush(stdout);

    int signo = stop.promise.wait(waitScope);
    kj::StringPtr signal = strsignal(signo);
    size_t openConnections = server.stats().openConnections;
    SS_LOG(INFO, "server", "shutting down", signal, openConnections);
    server.drain(limits::SHUTDOWN_DRAIN_MS).wait(waitScope);
    uint64_t requests = server.stats().requests;
    SS_LOG(INFO, "server", "stopped", requests);
  }

  kj::ProcessContext& context;
  uint16_t port = 6080;
  kj::String listen = kj::str("127.0.0.1");
  kj::String dataDir;
  kj::String uiDir;
};

}  // namespace

kj::MainFunc startCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<StartCommand>(context));
}

}  // namespace ss::cli
