// spawnSandboxed() against the real kernel: exit status, readable setup errors, parent-death
// cleanup, the grain's credentials as the host sees them, and the unprivileged path.
#include "sandbox/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kj/debug.h>
#include <kj/vector.h>
#include <string>

#include "base/fd.h"
#include "sandbox/limits.h"
#include <grp.h>
#include <sys/prctl.h>
#include <string.h>
#include "sandbox/test-package.h"
#include "tests/test-support.h"

namespace ss::sandbox {
namespace {

using test::TestGrain;
using test::uniqueGrainId;

const SandboxHost& host() {
  static const SandboxHost h = SandboxHost::detect();
  return h;
}

// Why this process cannot run sandboxes at all, or "" if it can.
kj::String whyNoSandbox() {
  if (geteuid() != 0) return kj::str("needs root (CI runs as root); see the unprivileged test");
  return kj::str();
}

// /proc files report size 0, so read until EOF rather than by size.
kj::String readProcFile(kj::StringPtr path) {
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kj::str();
  kj::AutoCloseFd owned(fd);
  kj::Vector<char> data;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) data.addAll(buffer, buffer + n);
  data.add('\0');
  return kj::String(data.releaseAsArray());
}

kj::String procStatusField(pid_t pid, kj::StringPtr field) {
  auto text = readProcFile(kj::str("/proc/", pid, "/status"));
  auto key = kj::str(field, ":");
  size_t start = 0;
  while (start < text.size()) {
    size_t end = start;
    while (end < text.size() && text[end] != '\n') end++;
    auto line = kj::heapString(text.slice(start, end));
    if (line.startsWith(key)) {
      auto value = line.slice(key.size());
      while (value.size() > 0 && (value[0] == '\t' || value[0] == ' ')) value = value.slice(1);
      return kj::heapString(value);
    }
    start = end + 1;
  }
  return kj::str("(missing)");
}

TEST_CASE("a sandboxed static program runs and its exit status comes back", "[sandbox]") {
  auto why = whyNoSandbox();
  if (why.size()) SS_SKIP(why);
  TestGrain grain(SANDBOX_TRUE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  auto plan = planFor(grain.config(uniqueGrainId("true")));
  auto sock = makeSocketPair();
  auto proc = spawnSandboxed(host(), plan, sock.second.get());
  auto status = proc.wait();
  CAPTURE(status.describe());
  CHECK(status.exited);
  CHECK(status.code == 0);
}

TEST_CASE("the probe's exit code passes through", "[sandbox]") {
  auto why = whyNoSandbox();
  if (why.size()) SS_SKIP(why);
  TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  kj::StringPtr args[] = {"no-such-mode"};
  auto plan = planFor(grain.config(uniqueGrainId("exit"), args));
  auto sock = makeSocketPair();
  auto proc = spawnSandboxed(host(), plan, sock.second.get());
  auto status = proc.wait();
  CHECK(status.exited);
  CHECK(status.code == 2);
  CHECK(status.describe() == "exited with status 2");
}

TEST_CASE("a setup failure throws with the failed step named", "[sandbox]") {
  auto why = whyNoSandbox();
  if (why.size()) SS_SKIP(why);
  TestGrain grain(SANDBOX_TRUE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  auto config = grain.config(uniqueGrainId("novar"));
  config.varDir = kj::str(grain.root(), "/missing-var");
  auto plan = planFor(config);
  auto sock = makeSocketPair();
  REQUIRE_THROWS_WITH(spawnSandboxed(host(), plan, sock.second.get()),
                      Catch::Contains("grain sandbox setup failed: open grain var directory") &&
                          Catch::Contains("missing-var") && Catch::Contains("ENOENT"));
}

TEST_CASE("an exec failure names the program", "[sandbox]") {
  auto why = whyNoSandbox();
  if (why.size()) SS_SKIP(why);
  TestGrain grain(SANDBOX_TRUE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  auto config = grain.config(uniqueGrainId("noexec"));
  config.argv[0] = kj::str("/not-in-package");
  auto plan = planFor(config);
  auto sock = makeSocketPair();
  REQUIRE_THROWS_WITH(spawnSandboxed(host(), plan, sock.second.get()),
                      Catch::Contains("execve: /not-in-package") && Catch::Contains("ENOENT"));
}

TEST_CASE("the host sees a grain without privileges, with seccomp and its own uid",
          "[sandbox]") {
  auto why = whyNoSandbox();
  if (why.size()) SS_SKIP(why);
  TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  kj::StringPtr args[] = {"sleep"};
  auto plan = planFor(grain.config(uniqueGrainId("status"), args));
  auto sock = makeSocketPair();
  // The daemon blocks these for its signalfd; the grain must not inherit the mask.
  sigset_t blocked, old;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGHUP);
  sigprocmask(SIG_BLOCK, &blocked, &old);
  auto proc = spawnSandboxed(host(), plan, sock.second.get());
  sigprocmask(SIG_SETMASK, &old, nullptr);

  pid_t pid = proc.pid();
  CHECK(procStatusField(pid, "NoNewPrivs") == "1");
  CHECK(procStatusField(pid, "Seccomp") == "2");
  CHECK(procStatusField(pid, "CapInh") == "0000000000000000");
  CHECK(procStatusField(pid, "CapPrm") == "0000000000000000");
  CHECK(procStatusField(pid, "CapEff") == "0000000000000000");
  CHECK(procStatusField(pid, "CapBnd") == "0000000000000000");
  CHECK(procStatusField(pid, "CapAmb") == "0000000000000000");
  CHECK(procStatusField(pid, "SigBlk") == "0000000000000000");
  auto uid = kj::str(limits::DEFAULT_HOST_UID);
  CHECK(procStatusField(pid, "Uid") == kj::str(uid, "\t", uid, "\t", uid, "\t", uid));
  CHECK(procStatusField(pid, "Groups") == "");
  CHECK(procStatusField(pid, "NSpid").endsWith("\t1"));  // init of its own pid namespace

  proc.kill();
  auto status = proc.wait();
  CHECK(!status.exited);
  CHECK(status.signal == SIGKILL);
}

TEST_CASE("grain processes die with their supervisor (P-8)", "[sandbox]") {
  auto why = whyNoSandbox();
  if (why.size()) SS_SKIP(why);
  auto cgroups = host().cgroups();
  TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  kj::StringPtr args[] = {"forkbomb"};
  auto config = grain.config(uniqueGrainId("pdeath"), args);
  config.limits.pidsMax = 20;  // a few children, so there is more than init to clean up
  auto plan = planFor(config);

  // A stand-in supervisor: spawns the grain, reports its pid, then waits to be killed.
  auto report = makePipe(false);
  pid_t supervisor = fork();
  if (supervisor == 0) {
    try {
      auto sock = makeSocketPair();
      auto proc = spawnSandboxed(host(), plan, sock.second.get());
      pid_t pid = proc.pid();
      KJ_SYSCALL(write(report.second.get(), &pid, sizeof(pid)));
      for (;;) pause();
    } catch (...) {
      _exit(1);
    }
  }
  report.second = nullptr;
  pid_t grainPid = 0;
  REQUIRE(read(report.first.get(), &grainPid, sizeof(grainPid)) == sizeof(grainPid));
  usleep(100 * 1000);  // let the bomb fill its pids.max
  kill(supervisor, SIGKILL);
  waitpid(supervisor, nullptr, 0);

  // The grain's init must be gone (or a zombie nobody has reaped yet) within 2 s, and the
  // grain's cgroup empty.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; i++) {
    auto state = kj::str("(missing)");
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&] { state = procStatusField(grainPid, "State"); })) {
      (void)e;
    }
    gone = state == "(missing)" || state.startsWith("Z");
    if (!gone) usleep(10 * 1000);
  }
  CHECK(gone);
  KJ_IF_MAYBE(root, cgroups) {
    // The supervisor died before its Cgroup destructor ran; a new one of the same name finds
    // the leftover, checks it is empty and removes it.
    auto leftover = Cgroup::create(*root, plan.grainId, plan.limits);
    CHECK(leftover->isEmpty());
  }
}

TEST_CASE("an unprivileged user can run a sandbox through user namespaces", "[sandbox]") {
  if (geteuid() != 0) SS_SKIP("needs root to switch to an unprivileged test uid");
  constexpr uid_t NOBODY = 65534;
  TestGrain grain(SANDBOX_PROBE_PATH, NOBODY, NOBODY);
  kj::StringPtr args[] = {"battery-lite"};  // unknown mode: exits 2 after a full setup
  auto config = grain.config(uniqueGrainId("unpriv"), args);
  config.requireCgroup = false;
  auto plan = planFor(config);
  auto result = makePipe(false);

  pid_t child = fork();
  if (child == 0) {
    int code = 100;
    try {
      KJ_SYSCALL(setgroups(0, nullptr));
      KJ_SYSCALL(setresgid(NOBODY, NOBODY, NOBODY));
      KJ_SYSCALL(setresuid(NOBODY, NOBODY, NOBODY));
      // A process that changed uid is not dumpable, which makes its children's /proc files
      // root-owned; a daemon started as an ordinary user is dumpable, so be one.
      KJ_SYSCALL(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
      auto unprivileged = SandboxHost::detect();
      KJ_ASSERT(!unprivileged.privileged());
      auto sock = makeSocketPair();
      auto proc = spawnSandboxed(unprivileged, plan, sock.second.get());
      auto status = proc.wait();
      code = status.exited ? status.code : 128 + status.signal;
    } catch (kj::Exception& e) {
      auto text = kj::str(e.getDescription());
      ssize_t ignored = write(result.second.get(), text.begin(), text.size());
      (void)ignored;
      code = 101;
    }
    _exit(code);
  }
  result.second = nullptr;
  char message[1024] = {};
  ssize_t n = read(result.first.get(), message, sizeof(message) - 1);
  (void)n;
  int status;
  waitpid(child, &status, 0);
  CAPTURE(message);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 101 &&
      kj::StringPtr(message).startsWith("grain sandbox: cannot create namespaces")) {
    SS_SKIP(kj::str("kernel refuses unprivileged user namespaces: ", message));
  }
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
}

TEST_CASE("a namespace failure message names the feature and the settings", "[sandbox]") {
  auto text = diagnoseNamespaceFailure(ENOSYS, false);
  CHECK(text.startsWith("clone3 is missing: Linux 5.3"));
  // On this kernel every namespace type works, so the message blames limits or policy and
  // shows the sysctls an admin would check.
  auto other = diagnoseNamespaceFailure(EPERM, false);
  CAPTURE(other);
  CHECK(strstr(other.cStr(), "user.max_user_namespaces=") != nullptr);
}

}  // namespace
}  // namespace ss::sandbox

namespace ss::sandbox {
namespace {

// Runs a host program inside a sandbox whose package is the host's /usr (bound read-only)
// plus Debian's merged-usr symlinks, and returns its stdout and exit status.
struct AppRun {
  std::string output;
  ExitStatus status;
};

AppRun runHostApp(kj::ArrayPtr<const kj::StringPtr> argv) {
  TestGrain grain(SANDBOX_TRUE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  auto pkg = grain.packageDir();
  for (auto link : {"bin", "lib", "lib64", "sbin"}) {
    KJ_SYSCALL(symlink(kj::str("usr/", link).cStr(), kj::str(pkg, "/", link).cStr()));
  }
  GrainConfig config = grain.config(uniqueGrainId("app"));
  config.argv.clear();
  for (auto a : argv) config.argv.add(kj::str(a));
  config.extraBinds.add(BindMount{kj::str("/usr"), kj::str("/usr")});
  auto plan = planFor(config);
  auto out = makePipe(false);
  auto sock = makeSocketPair();
  auto proc = spawnSandboxed(host(), plan, sock.second.get(),
                             {.stdoutFd = out.second.get(), .stderrFd = out.second.get()});
  out.second = nullptr;
  std::string output;
  char buffer[4096];
  ssize_t n;
  while ((n = read(out.first.get(), buffer, sizeof(buffer))) > 0) output.append(buffer, n);
  return AppRun{output, proc.wait()};
}

TEST_CASE("node serves and fetches HTTP on the grain's loopback under the filter",
          "[sandbox][apps]") {
  auto why = whyNoSandbox();
  if (why.size()) SS_SKIP(why);
  if (access("/usr/bin/node", X_OK) != 0) SS_SKIP("node not installed");
  kj::StringPtr argv[] = {
      "/usr/bin/node", "-e",
      "const http=require('http');"
      "const s=http.createServer((q,r)=>r.end('hello from '+require('os').hostname()));"
      "s.listen(8000,'127.0.0.1',()=>http.get('http://127.0.0.1:8000/',res=>{let b='';"
      "res.on('data',d=>b+=d);res.on('end',()=>{console.log(b);process.exit(0)})}));"
      "require('fs').writeFileSync('/var/node-was-here','x');"
      "require('child_process').execFileSync('/usr/bin/node',['-e','1']);"};
  auto run = runHostApp(argv);
  CAPTURE(run.output, run.status.describe());
  CHECK(run.status.exited);
  CHECK(run.status.code == 0);
  CHECK(run.output == "hello from sandbox\n");
}

TEST_CASE("python runs threads, subprocesses and sqlite under the filter", "[sandbox][apps]") {
  auto why = whyNoSandbox();
  if (why.size()) SS_SKIP(why);
  if (access("/usr/bin/python3", X_OK) != 0) SS_SKIP("python3 not installed");
  kj::StringPtr argv[] = {
      "/usr/bin/python3", "-c",
      "import sqlite3, subprocess, threading, tempfile, os\n"
      "db = sqlite3.connect('/var/t.db'); db.execute('create table t(x)');\n"
      "db.execute('insert into t values (42)'); db.commit()\n"
      "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
      "out = subprocess.run(['/usr/bin/python3', '-c', 'print(7)'], capture_output=True).stdout\n"
      "with tempfile.TemporaryFile() as f: f.write(b'x')\n"
      "print(db.execute('select x from t').fetchone()[0], out.decode().strip(), os.cpu_count() > 0)\n"};
  auto run = runHostApp(argv);
  CAPTURE(run.output, run.status.describe());
  CHECK(run.status.exited);
  CHECK(run.output == "42 7 True\n");
}

TEST_CASE("busybox sh and httpd-style tools run under the filter", "[sandbox][apps]") {
  auto why = whyNoSandbox();
  if (why.size()) SS_SKIP(why);
  if (access("/usr/bin/busybox", X_OK) != 0) SS_SKIP("busybox not installed (busybox-static)");
  kj::StringPtr argv[] = {"/usr/bin/busybox", "sh", "-c",
                          "echo hi > /var/f && cat /var/f && ls /dev | tr '\\n' ' ' && "
                          "(sleep 0.01 &) && wait && id -u"};
  auto run = runHostApp(argv);
  CAPTURE(run.output, run.status.describe());
  CHECK(run.status.exited);
  CHECK(run.output == "hi\nfull null random shm urandom zero 1000\n");
}

}  // namespace
}  // namespace ss::sandbox
