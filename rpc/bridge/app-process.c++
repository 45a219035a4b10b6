#include "rpc/bridge/app-process.h"

#include <dirent.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/vector.h>

namespace ss::bridge {

namespace {

constexpr int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP};

void writeError(const char* prefix, int error) {
  ssize_t ignored KJ_UNUSED = ::write(2, prefix, strlen(prefix));
  const char* message = strerror(error);
  ignored = ::write(2, message, strlen(message));
  ignored = ::write(2, "\n", 1);
}

// The daemon starts us with a seccomp filter that also allows splice() (our zero-copy pumps)
// and seccomp() itself (sandbox/seccomp.h, FilterFor::BRIDGE). The app must get neither:
// this filter, stacked on top, answers both with ENOSYS, as the app policy does. Raw BPF, so
// the static bridge needs no libseccomp. The daemon's filter already pins the architecture.
int narrowSeccompForApp() {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_splice, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_seccomp, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
  };
  struct sock_fprog program = {static_cast<unsigned short>(kj::size(code)), code};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  if (::syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) return errno;
  return 0;
}

// Runs in the forked child, before exec: only async-signal-safe calls.
[[noreturn]] void execApp(kj::ArrayPtr<const char* const> argv) {
  // Dispositions survive exec when ignored, and the mask always does: the app must start with
  // the defaults it would get from a shell, not with the bridge's blocked signals.
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // fd 3 is the platform's RPC socket; the app must never speak on it.
  ::close(3);
  // Inside a grain the filter must stack, or the app does not run at all. Outside one (the
  // bridge's own tests run it as a plain process) seccomp() is allowed and it stacks anyway.
  if (int error = narrowSeccompForApp(); error != 0) {
    writeError("sandstorm-http-bridge: cannot restrict the app's system calls: ", error);
    ::_exit(126);
  }
  auto args = kj::heapArray<char*>(argv.size() + 1);
  for (size_t i = 0; i < argv.size(); ++i) args[i] = const_cast<char*>(argv[i]);
  args[argv.size()] = nullptr;
  ::execvp(args[0], args.begin());
  writeError("sandstorm-http-bridge: cannot execute the app: ", errno);
  ::_exit(127);
}

// Children reparented to us (not pid 1: PR_SET_CHILD_SUBREAPER). /proc/<pid>/stat field 4.
kj::Vector<pid_t> childrenOf(pid_t parent) {
  kj::Vector<pid_t> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return out;
  while (struct dirent* entry = readdir(dir)) {
    char* end;
    long pid = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE* f = fopen(path, "re");
    if (f == nullptr) continue;
    char buffer[512];
    size_t n = fread(buffer, 1, sizeof(buffer) - 1, f);
    fclose(f);
    buffer[n] = '\0';
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    char* close = strrchr(buffer, ')');
    if (close == nullptr) continue;
    char state;
    long ppid;
    if (sscanf(close + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent) out.add(pid_t(pid));
  }
  closedir(dir);
  return out;
}

}  // namespace

void AppProcess::captureSignals() {
  ::signal(SIGPIPE, SIG_IGN);
  kj::UnixEventPort::captureSignal(SIGCHLD);
  for (int sig : FORWARDED) kj::UnixEventPort::captureSignal(sig);
}

AppProcess::AppProcess(kj::UnixEventPort& port, kj::ArrayPtr<const char* const> argv)
    : port(port), exitPromise(nullptr), reaper(nullptr), forwarders(nullptr) {
  KJ_REQUIRE(argv.size() > 0, "no app command given");
  auto paf = kj::newPromiseAndFulfiller<int>();
  exitFulfiller = kj::mv(paf.fulfiller);
  exitPromise = paf.promise.fork();
  KJ_SYSCALL(appPid = fork());
  if (appPid == 0) execApp(argv);
  reaper = reapLoop().eagerlyEvaluate([](kj::Exception&& e) {
    KJ_LOG(ERROR, "child reaper failed", e);
  });
  kj::Vector<kj::Promise<void>> loops;
  for (int sig : FORWARDED) loops.add(forwardLoop(sig));
  forwarders = kj::joinPromises(loops.releaseAsArray()).eagerlyEvaluate([](kj::Exception&& e) {
    KJ_LOG(ERROR, "signal forwarding failed", e);
  });
}

void AppProcess::reapNow() {
  // SIGCHLDs coalesce: one signal may stand for many exits, so wait until nothing is left.
  for (;;) {
    int status;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;  // 0: children left but none exited; -1 ECHILD: none left
    if (pid == appPid && running) {
      running = false;
      exitFulfiller->fulfill(kj::cp(status));
    }
  }
}

kj::Promise<void> AppProcess::reapLoop() {
  reapNow();
  return port.onSignal(SIGCHLD).then([this](siginfo_t) { return reapLoop(); });
}

kj::Promise<void> AppProcess::forwardLoop(int signum) {
  return port.onSignal(signum).then([this, signum](siginfo_t) {
    signal(signum);
    return forwardLoop(signum);
  });
}

kj::Promise<int> AppProcess::exited() { return exitPromise.addBranch(); }

void AppProcess::signal(int signum) {
  if (running) ::kill(appPid, signum);
}

void AppProcess::killStragglers() {
  if (getpid() == 1) {
    // In our pid namespace, kill(-1) reaches everyone but us.
    ::kill(-1, SIGKILL);
    while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {}
    return;
  }
  // Killing a process can orphan its own children onto us, so repeat until none are left.
  for (int round = 0; round < 100; ++round) {
    reapNow();
    auto children = childrenOf(getpid());
    if (children.size() == 0) return;
    for (pid_t child : children) ::kill(child, SIGKILL);
    for (pid_t child : children) {
      while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {}
    }
  }
}

int AppProcess::exitCodeFor(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace ss::bridge
