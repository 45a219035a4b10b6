// The escape battery (facts/security.md §2): the probe tries each escape from inside a real
// sandbox and prints one JSON line per attempt; every row must match its expected outcome
// here, and every expected row must be present. Host-side checks: canary files unchanged, the
// host's listeners unreachable, and a grain listener unreachable from the host (N-7).
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <map>
#include <sstream>
#include <sys/wait.h>
#include <set>
#include <string>

#include <kj/debug.h>

#include "base/fd.h"
#include "sandbox/limits.h"
#include "sandbox/spawn.h"
#include "sandbox/test-package.h"
#include "tests/test-support.h"

namespace ss::sandbox {
namespace {

using test::TestGrain;
using test::uniqueGrainId;

struct Row {
  std::string result;
  std::string detail;
};

// Minimal parser for the probe's own output format ({"id":"..","result":"..","detail":".."}).
std::string field(const std::string& line, const std::string& name) {
  auto key = "\"" + name + "\":\"";
  auto pos = line.find(key);
  if (pos == std::string::npos) return "";
  std::string out;
  for (size_t i = pos + key.size(); i < line.size(); i++) {
    if (line[i] == '\\' && i + 1 < line.size()) {
      out += line[++i];
    } else if (line[i] == '"') {
      break;
    } else {
      out += line[i];
    }
  }
  return out;
}

std::map<std::string, Row> parseRows(const std::string& output) {
  std::map<std::string, Row> rows;
  size_t start = 0;
  while (start < output.size()) {
    auto end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    auto line = output.substr(start, end - start);
    if (!line.empty()) rows[field(line, "id")] = Row{field(line, "result"), field(line, "detail")};
    start = end + 1;
  }
  return rows;
}

std::string readAll(int fd) {
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, n);
  return out;
}

// What syscall `nr` with poisoned arguments gives on the host, outside any filter (in a
// child: it may crash).
std::string unfilteredResult(long nr) {
  auto p = makePipe(false);
  pid_t pid = fork();
  if (pid == 0) {
    // Catch2's crash handlers must not report this child's expected signal as a failure.
    for (int sig : {SIGILL, SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGSYS, SIGTRAP}) {
      signal(sig, SIG_DFL);
    }
    long rc = syscall(nr, -1L, -1L, -1L, -1L, -1L, -1L);
    const char* name = rc < 0 ? strerrorname_np(errno) : "OK";
    ssize_t ignored = write(p.second.get(), name, strlen(name));
    (void)ignored;
    _exit(0);
  }
  p.second = nullptr;
  auto out = readAll(p.first.get());
  int status;
  waitpid(pid, &status, 0);
  if (out.empty() && WIFSIGNALED(status)) return std::string("SIG") + sigabbrev_np(WTERMSIG(status));
  return out;
}

constexpr uint64_t TMP_BYTES = 4ull << 20;  // small, so F-6 fills it quickly

// id -> acceptable results. Where facts/security.md allows "X / Y", our policy picks one and
// the table pins it; alternatives are listed only where the kernel (not us) decides.
const std::map<std::string, std::set<std::string>> EXPECTED = {
    {"C-1", {"no-caps"}},                    // capget + bounding set all empty
    {"C-2", {"2/1"}},                        // seccomp filter mode / no_new_privs
    {"P-6", {"0,1,2,3"}},                    // exactly fds 0-3
    {"P-7", {"/ root-is-own-parent /"}},
    {"P-1", {"contained"}},
    {"P-2a", {"ESRCH"}},                     // the host daemon's pid is not visible
    {"P-2b", {"OK"}},                        // kill(1,0) reaches only the grain's own init
    {"P-3", {"ENOENT"}},                     // no /proc, no /sys
    {"P-4", {"sandbox/sandbox"}},
    {"P-5", {"HOME,PATH,PROBE_ABSTRACT,PROBE_HOST_PID,PROBE_HOST_PORT,PROBE_HOST_SOCKET,"
             "PROBE_HOST_VAR,SANDSTORM,TMPDIR"}},
    {"F-1a", {"dev,program,tmp,var,writable"}},       // package entries + our mounts, nothing else
    {"F-1b", {"full,null,random,shm,urandom,zero"}},
    {"F-2", {"EROFS"}},                      // incl. a world-writable package file
    {"F-3", {"EXDEV"}},
    {"F-4", {"ENOENT"}},
    {"F-5a", {"/"}},
    {"F-5b", {"ENOENT"}},
    {"F-6a", {"ENOSPC"}},
    {"F-6b", {"ENOSPC"}},
    {"F-6c", {"ENOSPC"}},
    {"F-8", {"0/0"}},
    {"F-9", {"EOPNOTSUPP"}},
    {"F-10", {"ENOENT", "EXDEV", "EROFS"}},  // kernel: no CAP_DAC_READ_SEARCH -> ENOENT
    {"N-0", {"OK"}},
    {"N-1a", {"ECONNREFUSED"}},
    {"N-1b", {"ECONNREFUSED", "EADDRNOTAVAIL", "ENETUNREACH"}},
    {"N-2", {"ENETUNREACH"}},
    {"N-3", {"ENETUNREACH"}},
    {"N-4", {"ECONNREFUSED"}},
    {"N-5", {"ENOENT"}},
    {"N-6a", {"ENOSYS"}},                    // ioctl not in the allowlist
    {"N-6b", {"EAFNOSUPPORT"}},
    {"R-5a", {"EMFILE"}},
    {"R-5b", {"EPERM"}},
    {"K-1", {"match", "mismatch"}},          // mismatches are checked one by one below
    {"K-2", {"ENOSYS"}},
    {"K-3", {"ENOSYS", "SIGSEGV"}},          // SIGSEGV when the kernel has no ia32 emulation
    {"K-4", {"ENOSYS"}},
    {"K-5", {"ENOSYS"}},
    {"K-6", {"ENOSYS"}},
    {"K-7", {"EPERM"}},
    {"K-8", {"ENOSYS"}},
    {"K-9", {"ENOSYS"}},
    {"K-10a", {"EPERM"}},
    {"K-10b", {"ENOSYS"}},
    {"K-10c", {"0"}},
    {"K-11", {"ENOSYS"}},
    {"K-12a", {"ENOSYS"}},
    {"K-12b", {"EINVAL"}},
    {"K-13", {"ENOSYS"}},
    {"K-14a", {"ENOSYS"}},
    {"K-14b", {"OK"}},
    {"K-15", {"ENOSYS"}},
    {"K-16a", {"ENOTTY"}},
    {"K-16b", {"ENOSYS"}},
    {"K-17", {"EAFNOSUPPORT"}},
    {"K-18a", {"EACCES"}},
    {"K-18b", {"ENOSYS"}},
    {"K-19", {"ENOSYS"}},
    {"K-20", {"ENOSYS"}},
    {"K-21", {"ENOSYS"}},
    {"K-22a", {"EINVAL"}},                   // uid 0 is not mapped in the grain's userns
    {"K-22c", {"EPERM"}},
    {"K-22b", {"1000/1000/1000"}},
    {"K-23a", {"nosuid"}},
    {"K-23b", {"1000"}},
    {"K-24", {"EACCES"}},
    {"K-25", {"ENOSYS"}},
    {"K-26", {"ENOSYS"}},
    {"END", {"done"}},
};

TEST_CASE("escape battery: every attempt from inside a grain has its expected outcome",
          "[sandbox][battery]") {
  if (geteuid() != 0) SS_SKIP("needs root (CI runs as root)");
  auto host = SandboxHost::detect();
  TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);

  // Host-side bait: a TCP listener on loopback, an abstract and a path unix socket, and a
  // canary file next to the grain's directories.
  auto listener = listenTcp("127.0.0.1", 0, 4);
  auto port = localPort(listener.get());
  auto abstractName = kj::str("sandstorm-probe-", getpid());
  int abstractSock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  kj::AutoCloseFd ownedAbstract(abstractSock);
  sockaddr_un abs{};
  abs.sun_family = AF_UNIX;
  memcpy(abs.sun_path + 1, abstractName.begin(), abstractName.size());
  socklen_t absLen = offsetof(sockaddr_un, sun_path) + 1 + abstractName.size();
  REQUIRE(bind(abstractSock, reinterpret_cast<sockaddr*>(&abs), absLen) == 0);
  REQUIRE(listen(abstractSock, 4) == 0);
  auto socketPath = kj::str(grain.root(), "/host.sock");
  int pathSock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  kj::AutoCloseFd ownedPath(pathSock);
  sockaddr_un path{};
  path.sun_family = AF_UNIX;
  strncpy(path.sun_path, socketPath.cStr(), sizeof(path.sun_path) - 1);
  REQUIRE(bind(pathSock, reinterpret_cast<sockaddr*>(&path), sizeof(path)) == 0);
  REQUIRE(listen(pathSock, 4) == 0);
  // A world-writable package file: only the read-only mount can refuse writes to it (F-2).
  {
    auto writable = kj::str(grain.packageDir(), "/writable");
    int fd = open(writable.cStr(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    REQUIRE(fd >= 0);
    REQUIRE(fchmod(fd, 0666) == 0);
    close(fd);
  }
  auto canaryPath = kj::str(grain.root(), "/canary");
  {
    int fd = open(canaryPath.cStr(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "canary", 6) == 6);
    close(fd);
  }
  struct stat canaryBefore;
  REQUIRE(stat(canaryPath.cStr(), &canaryBefore) == 0);

  auto config = grain.config(uniqueGrainId("battery"));
  config.limits.tmpBytes = TMP_BYTES;
  config.env.add(kj::str("PROBE_HOST_PID=", getpid()));
  config.env.add(kj::str("PROBE_HOST_PORT=", port));
  config.env.add(kj::str("PROBE_ABSTRACT=", abstractName));
  config.env.add(kj::str("PROBE_HOST_SOCKET=", socketPath));
  config.env.add(kj::str("PROBE_HOST_VAR=", grain.varDir()));
  auto plan = planFor(config);

  auto out = makePipe(false);
  auto sock = makeSocketPair();
  auto proc = spawnSandboxed(host, plan, sock.second.get(), {.stdoutFd = out.second.get()});
  out.second = nullptr;
  auto output = readAll(out.first.get());
  auto status = proc.wait();
  CAPTURE(status.describe());
  CHECK(status.exited);
  CHECK(status.code == 0);

  auto rows = parseRows(output);
  for (auto& [id, accepted] : EXPECTED) {
    auto it = rows.find(id);
    CAPTURE(id);
    if (it == rows.end()) {
      FAIL_CHECK("row missing from the probe's output");
      continue;
    }
    CAPTURE(it->second.result, it->second.detail);
    CHECK(accepted.count(it->second.result) == 1);
  }
  for (auto& [id, row] : rows) {
    CAPTURE(id, row.result);
    CHECK(EXPECTED.count(id) == 1);  // a probe row without an expectation is a test bug
  }

  // K-1 lists numbers whose result differs from the policy. A number that is no Linux syscall
  // (335-423 are unassigned on x86-64) yet does not give ENOSYS is intercepted before seccomp
  // runs (this machine's kernel/hypervisor traps 335 and 336); it counts as ours only if the
  // host, with no filter at all, sees something different.
  if (rows["K-1"].result == "mismatch") {
    std::string ours;
    std::istringstream items(rows["K-1"].detail);
    std::string item;
    while (items >> item) {
      long nr = std::stol(item.substr(0, item.find(':')));
      auto grainResult = item.substr(item.find(':') + 1);
      bool unassigned = nr >= 335 && nr <= 423;
      if (!unassigned || unfilteredResult(nr) != grainResult) ours += item + " ";
      else WARN("syscall " << nr << " is intercepted below seccomp on this machine: "
                           << grainResult);
    }
    CAPTURE(ours);
    CHECK(ours.empty());
  }

  // Sizes that the result names alone do not show.
  CHECK(std::stoull(rows["F-6a"].detail) <= TMP_BYTES);
  CHECK(std::stoull(rows["F-6b"].detail) <= limits::SHM_BYTES);
  CHECK(std::stoull(rows["F-6c"].detail) <= limits::TMP_INODES);
  CHECK(std::stoull(rows["R-5a"].detail) == limits::NOFILE_SOFT);
  CHECK(rows["P-6"].detail == "fd0=/dev/null fd3=socket");

  // Host side: canary untouched; nothing the grain did reached our listeners.
  struct stat canaryAfter;
  REQUIRE(stat(canaryPath.cStr(), &canaryAfter) == 0);
  CHECK(canaryAfter.st_mtime == canaryBefore.st_mtime);
  CHECK(canaryAfter.st_size == 6);
  setNonblocking(listener.get());
  CHECK(accept(listener.get(), nullptr, nullptr) < 0);
  setNonblocking(abstractSock);
  CHECK(accept(abstractSock, nullptr, nullptr) < 0);
}

TEST_CASE("a grain's listener is unreachable from the host (N-7)", "[sandbox][battery]") {
  if (geteuid() != 0) SS_SKIP("needs root (CI runs as root)");
  auto host = SandboxHost::detect();
  TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  // Pick a port free on the host, so ECONNREFUSED can only mean "not the grain's socket".
  auto probe = listenTcp("127.0.0.1", 0, 1);
  auto port = localPort(probe.get());
  probe = nullptr;
  kj::StringPtr args[] = {"listen"};
  auto config = grain.config(uniqueGrainId("listen"), args);
  config.env.add(kj::str("PROBE_LISTEN_PORT=", port));
  auto plan = planFor(config);
  auto out = makePipe(false);
  auto sock = makeSocketPair();
  auto proc = spawnSandboxed(host, plan, sock.second.get(), {.stdoutFd = out.second.get()});
  out.second = nullptr;

  std::string line;
  char c;
  while (read(out.first.get(), &c, 1) == 1 && c != '\n') line += c;
  CHECK(field(line, "result") == "OK");

  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0);
  CHECK(errno == ECONNREFUSED);
  close(s);

  REQUIRE(write(sock.first.get(), "x", 1) == 1);
  auto status = proc.wait();
  CHECK(status.exited);
}

}  // namespace
}  // namespace ss::sandbox

namespace ss::sandbox {
namespace {

TEST_CASE("a hostile package's symlinked mount points are never followed (P-9)",
          "[sandbox][battery]") {
  if (geteuid() != 0) SS_SKIP("needs root (CI runs as root)");
  auto host = SandboxHost::detect();
  TestGrain grain(SANDBOX_PROBE_PATH, limits::DEFAULT_HOST_UID, limits::DEFAULT_HOST_GID);
  auto pkg = grain.packageDir();
  // Every name we mount on, as a symlink out of the package; plus an ordinary escaping link.
  auto outside = kj::str(grain.root(), "/outside");
  KJ_SYSCALL(mkdir(outside.cStr(), 0777));
  const char* links[][2] = {{"var", outside.cStr()}, {"dev", "/etc"}, {"tmp", "../.."},
                            {"proc", "/"}, {"sys", "/sys"}, {"etc", "/etc"}};
  for (auto& l : links) KJ_SYSCALL(symlink(l[1], kj::str(pkg, "/", l[0]).cStr()));
  kj::StringPtr args[] = {"mark"};
  auto plan = planFor(grain.config(uniqueGrainId("hostile"), args));
  auto out = makePipe(false);
  auto sock = makeSocketPair();
  auto proc = spawnSandboxed(host, plan, sock.second.get(), {.stdoutFd = out.second.get()});
  out.second = nullptr;
  auto rows = parseRows(readAll(out.first.get()));
  CHECK(proc.wait().exited);
  CHECK(rows["P-9a"].result == "OK");
  CHECK(rows["P-9b"].result == "dev,etc,program,tmp,var");  // etc: copied as a symlink
  CHECK(rows["P-9c"].result == "full,null,random,shm,urandom,zero");
  // The marker landed in the grain's own var dir, not where the package's `var` pointed.
  struct stat st;
  CHECK(stat(kj::str(grain.varDir(), "/marker").cStr(), &st) == 0);
  CHECK(stat(kj::str(outside, "/marker").cStr(), &st) < 0);
}

}  // namespace
}  // namespace ss::sandbox
