// `sandstorm start|stop|status|restart`: the server as a background daemon, found through its
// locked pidfile (cli/pid-file.h). Under systemd, the unit runs `sandstorm run` instead.
#include "cli/service-commands.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/vector.h>

#include "base/fd.h"
#include "cli/errors.h"
#include "cli/exit-codes.h"
#include "cli/pid-file.h"
#include "cli/server-options.h"
#include "config.h"

namespace ss::cli {

namespace {

// How long `start` waits for the server to listen: a first start also unpacks the demo apps
// and migrates the store, which takes a few seconds on a slow disk.
constexpr int START_WAIT_SECONDS = 120;
// How long `stop` waits after SIGTERM: the server drains requests for up to 10 s and then stops
// its grains (the systemd unit's TimeoutStopSec is the same).
constexpr int STOP_WAIT_SECONDS = 30;
constexpr size_t LOG_TAIL_BYTES = 4096;  // of the server's log, shown when it fails to start

int64_t nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

kj::String serverLogPath(kj::StringPtr dataDir) { return kj::str(dataDir, "/log/sandstorm.log"); }

uint64_t fileSize(kj::StringPtr path) {
  struct stat info;
  if (stat(path.cStr(), &info) < 0) return 0;
  return info.st_size;
}

kj::String logSince(kj::StringPtr path, uint64_t offset) {
  // What the server wrote since `offset`, at most the last LOG_TAIL_BYTES.
  int raw = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return kj::str("");
  AutoCloseFd fd(raw);
  uint64_t size = fileSize(path);
  if (size < offset) offset = 0;  // rotated meanwhile
  if (size - offset > LOG_TAIL_BYTES) offset = size - LOG_TAIL_BYTES;
  kj::Vector<char> text;
  char buffer[4096];
  for (;;) {
    ssize_t n = pread(fd.get(), buffer, sizeof(buffer), offset);
    if (n <= 0) break;
    text.addAll(kj::arrayPtr(buffer, n));
    offset += n;
  }
  text.add('\0');
  return kj::heapString(text.begin(), text.size() - 1);
}

kj::String selfPath() {
  char self[4096];
  ssize_t n;
  KJ_SYSCALL(n = readlink("/proc/self/exe", self, sizeof(self) - 1));
  return kj::heapString(self, n);
}

// Runs `body`; a problem a person can fix becomes one line and exit 1.
template <typename Body>
void runCatching(kj::ProcessContext& context, kj::StringPtr verb, Body&& body) {
  kj::Maybe<kj::String> failure;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { body(); })) failure = userMessage(*e);
  KJ_IF_MAYBE(f, failure) {
    fprintf(stderr, "sandstorm %s: %s\n", verb.cStr(), f->cStr());
    exitWith(EXIT_FAILED);
  }
}

// Starts `run` in the background; returns the exit code for `start`.
int startDaemon(const ServerOptions& options, kj::StringPtr verb) {
  Config config = options.resolve(verb);
  auto dataDir = dataDirOf(config);
  KJ_IF_MAYBE(pid, runningServer(dataDir)) {
    auto url = runningServerUrl(dataDir).orDefault(kj::str("(URL not known yet)"));
    printf("Sandstorm is already running (pid %d) at %s\n", int(*pid), url.cStr());
    return EXIT_OK;
  }
  makeDirectories(dataDir, 0711);  // as the server makes it: grains traverse it
  auto logDir = kj::str(dataDir, "/log");
  makeDirectories(logDir, 0700);
  auto logPath = serverLogPath(dataDir);
  uint64_t logOffset = fileSize(logPath);

  kj::Vector<kj::String> args;
  args.add(kj::str("sandstorm"));
  args.add(kj::str("run"));
  for (auto& arg: options.asArguments()) args.add(kj::heapString(arg));
  args.add(kj::str("--log-file=", logPath));
  args.add(kj::str("--ready-fd=3"));
  kj::Vector<char*> argv;
  for (auto& arg: args) argv.add(const_cast<char*>(arg.cStr()));
  argv.add(nullptr);
  auto binary = selfPath();

  auto ready = makePipe(false);
  fflush(stdout);
  fflush(stderr);
  pid_t child;
  KJ_SYSCALL(child = fork());
  if (child == 0) {
    // The daemon: its own session (no terminal, no job control, survives logout), cwd /, stdin
    // from /dev/null, output to the log until `run` opens it itself.
    setsid();
    if (chdir("/") < 0) _exit(127);
    int null = open("/dev/null", O_RDONLY);
    int log = open(logPath.cStr(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null < 0 || log < 0) _exit(127);
    dup2(null, STDIN_FILENO);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    dup2(ready.second.get(), 3);  // clears close-on-exec on 3
    execv(binary.cStr(), argv.begin());
    dprintf(STDERR_FILENO, "sandstorm start: cannot run %s: %s\n", binary.cStr(), strerror(errno));
    _exit(127);
  }
  ready.second = nullptr;

  // Wait for the startup message, then EOF (the server closes the fd once it serves), or for
  // EOF alone (it failed), or the deadline.
  kj::Vector<char> message;
  int64_t deadline = nowMs() + START_WAIT_SECONDS * 1000;
  bool eof = false;
  while (!eof) {
    int64_t left = deadline - nowMs();
    if (left <= 0) break;
    pollfd p = {ready.first.get(), POLLIN, 0};
    int n;
    KJ_SYSCALL(n = poll(&p, 1, int(left)));
    if (n == 0) break;
    char buffer[4096];
    ssize_t got;
    KJ_SYSCALL(got = read(ready.first.get(), buffer, sizeof(buffer)));
    if (got == 0) eof = true;
    message.addAll(kj::arrayPtr(buffer, got));
  }
  kj::String text = kj::heapString(message.begin(), message.size());
  if (text.startsWith("Sandstorm is running at ")) {
    fputs(text.cStr(), stdout);
    return EXIT_OK;
  }

  if (!eof) {
    kill(child, SIGTERM);
    fprintf(stderr, "sandstorm %s: the server did not start within %d s (stopped it); its log "
            "(%s) ends with:\n%s", verb.cStr(), START_WAIT_SECONDS, logPath.cStr(),
            logSince(logPath, logOffset).cStr());
    return EXIT_FAILED;
  }
  // It exited (or is exiting): its error is the last thing in the log.
  int status = 0;
  for (int i = 0; i < 100 && waitpid(child, &status, WNOHANG) == 0; i++) usleep(20'000);
  auto tail = logSince(logPath, logOffset);
  // `run` ends a failure with one line "sandstorm: <what is wrong>": show just that.
  kj::Maybe<kj::String> reason;
  size_t lineStart = 0;
  for (size_t i = 0; i <= tail.size(); i++) {
    if (i == tail.size() || tail[i] == '\n') {
      auto line = kj::str(kj::arrayPtr(tail.begin() + lineStart, tail.begin() + i));
      if (line.startsWith("sandstorm: ")) reason = kj::str(line.slice(11));
      lineStart = i + 1;
    }
  }
  KJ_IF_MAYBE(r, reason) {
    fprintf(stderr, "sandstorm %s: %s (log: %s)\n", verb.cStr(), r->cStr(), logPath.cStr());
  } else {
    fprintf(stderr, "sandstorm %s: the server failed to start; from its log (%s):\n%s",
            verb.cStr(), logPath.cStr(), tail.cStr());
    if (tail.size() > 0 && !tail.endsWith("\n")) fputc('\n', stderr);
  }
  return EXIT_FAILED;
}

// Stops the server if one runs; returns the exit code for `stop`.
int stopDaemon(const ServerOptions& options, kj::StringPtr verb) {
  Config config = options.resolve(verb);
  auto dataDir = dataDirOf(config);
  pid_t pid;
  KJ_IF_MAYBE(p, runningServer(dataDir)) {
    pid = *p;
  } else {
    printf("Sandstorm is not running\n");
    return EXIT_OK;
  }
  if (kill(pid, SIGTERM) < 0) {
    int error = errno;
    KJ_REQUIRE(error == ESRCH, kj::str("cannot signal the server (pid ", pid, "): ",
                                       strerror(error)));
  }
  printf("Stopping Sandstorm (pid %d)...\n", int(pid));
  fflush(stdout);
  int64_t deadline = nowMs() + STOP_WAIT_SECONDS * 1000;
  while (nowMs() < deadline) {
    if (runningServer(dataDir) == nullptr) {
      printf("Sandstorm stopped\n");
      return EXIT_OK;
    }
    usleep(50'000);
  }
  fprintf(stderr, "sandstorm %s: the server (pid %d) is still running %d s after SIGTERM; see "
          "%s, or end it with kill -KILL %d\n", verb.cStr(), int(pid), STOP_WAIT_SECONDS,
          serverLogPath(dataDir).cStr(), int(pid));
  return EXIT_FAILED;
}

class StartCommand {
public:
  explicit StartCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(context, "Sandstorm " SANDSTORM_VERSION,
        "Starts the server in the background (same options as `sandstorm run`), waits until it "
        "accepts connections, prints its URL (and, on the first start, the link that creates "
        "the administrator account) and exits 0. Its output goes to "
        "<data-dir>/log/sandstorm.log. Exits 1 with the server's error if it cannot start; "
        "exits 0 if it is already running.");
    options.addAll(builder);
    builder.callAfterParsing([this]() -> kj::MainBuilder::Validity {
      int code = EXIT_FAILED;
      runCatching(context, "start", [&]() { code = startDaemon(options, "start"); });
      exitWith(code);
    });
    return builder.build();
  }

private:
  kj::ProcessContext& context;
  ServerOptions options;
};

class StopCommand {
public:
  explicit StopCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(context, "Sandstorm " SANDSTORM_VERSION,
        "Stops the background server: SIGTERM, then waits up to 30 s while it finishes "
        "requests and stops its grains. Exits 0 when it stopped or was not running, 1 if it "
        "is still running.");
    options.addLocating(builder);
    builder.callAfterParsing([this]() -> kj::MainBuilder::Validity {
      int code = EXIT_FAILED;
      runCatching(context, "stop", [&]() { code = stopDaemon(options, "stop"); });
      exitWith(code);
    });
    return builder.build();
  }

private:
  kj::ProcessContext& context;
  ServerOptions options;
};

class StatusCommand {
public:
  explicit StatusCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(context, "Sandstorm " SANDSTORM_VERSION,
        "Prints whether the server is running, with its pid and URL. Exits 0 if it is "
        "running, 3 if it is not (as LSB init scripts do), 1 if that cannot be told.");
    options.addLocating(builder);
    builder.callAfterParsing([this]() -> kj::MainBuilder::Validity {
      int code = EXIT_FAILED;
      runCatching(context, "status", [&]() {
        auto dataDir = dataDirOf(options.resolve("status"));
        KJ_IF_MAYBE(pid, runningServer(dataDir)) {
          auto url = runningServerUrl(dataDir).orDefault(kj::str("(starting)"));
          printf("Sandstorm is running (pid %d) at %s\n", int(*pid), url.cStr());
          code = EXIT_OK;
        } else {
          printf("Sandstorm is not running (data directory %s)\n", dataDir.cStr());
          code = EXIT_NOT_RUNNING;
        }
      });
      exitWith(code);
    });
    return builder.build();
  }

private:
  kj::ProcessContext& context;
  ServerOptions options;
};

class RestartCommand {
public:
  explicit RestartCommand(kj::ProcessContext& context): context(context) {}

  kj::MainFunc getMain() {
    kj::MainBuilder builder(context, "Sandstorm " SANDSTORM_VERSION,
        "Stops the background server (as `sandstorm stop`) and starts it again (as `sandstorm "
        "start`, with these options). Under systemd, use `systemctl restart sandstorm`.");
    options.addAll(builder);
    builder.callAfterParsing([this]() -> kj::MainBuilder::Validity {
      int code = EXIT_FAILED;
      runCatching(context, "restart", [&]() {
        code = stopDaemon(options, "restart");
        if (code == EXIT_OK) code = startDaemon(options, "restart");
      });
      exitWith(code);
    });
    return builder.build();
  }

private:
  kj::ProcessContext& context;
  ServerOptions options;
};

}  // namespace

kj::MainFunc startCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<StartCommand>(context));
}
kj::MainFunc stopCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<StopCommand>(context));
}
kj::MainFunc statusCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<StatusCommand>(context));
}
kj::MainFunc restartCommand(kj::ProcessContext& context) {
  return keepAlive(kj::heap<RestartCommand>(context));
}

}  // namespace ss::cli
