// `sandstorm dev` end to end: a real demo package (notes.spk from the build), unpacked with the
// real CLI, served by the real daemon through a real sandbox, our bridge, and the app.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/clock.h"
#include "tests/test-support.h"

namespace {

int run(std::vector<std::string> args) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a: args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class DevServer {
public:
  DevServer(const std::string& appDir, const std::string& dataDir, int idleSeconds) {
    int out[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      std::string idle = std::to_string(idleSeconds);
      execl(SANDSTORM_BINARY, SANDSTORM_BINARY, "dev", "--port", "0", "--data-dir",
            dataDir.c_str(), "--idle-timeout", idle.c_str(), appDir.c_str(), (char*)nullptr);
      _exit(127);
    }
    close(out[1]);
    std::string line;
    auto deadline = ss::monotonicNowMs() + 15000;
    while (line.find('\n') == std::string::npos) {
      REQUIRE(ss::monotonicNowMs() < deadline);
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buffer[512];
      ssize_t n = read(out[0], buffer, sizeof(buffer));
      REQUIRE(n > 0);
      line.append(buffer, n);
    }
    close(out[0]);
    CAPTURE(line);
    auto pos = line.find("http://127.0.0.1:");
    REQUIRE(pos != std::string::npos);
    port = static_cast<uint16_t>(std::stoi(line.substr(pos + 17)));
  }
  ~DevServer() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status;
      waitpid(pid, &status, 0);
    }
  }

  std::string request(const std::string& bytes) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    timeval tv{20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    REQUIRE(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == (ssize_t)bytes.size());
    std::string reply;
    char buffer[65536];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) reply.append(buffer, n);
    close(fd);
    return reply;
  }

  pid_t pid = -1;
  uint16_t port = 0;
};

// Processes running as the grain's uid (the sandbox maps grains to host uid 64999 as root).
int grainProcesses() {
  int count = 0;
  for (int i = 0; i < 2; i++) {
    FILE* p = popen("pgrep -u 64999 | wc -l", "r");
    if (p == nullptr) return -1;
    if (fscanf(p, "%d", &count) != 1) count = -1;
    pclose(p);
  }
  return count;
}

}  // namespace

TEST_CASE("sandstorm dev serves the notes app from a real spk and keeps its data", "[e2e]") {
  if (geteuid() != 0) SS_SKIP("grains need root or user namespaces with cgroups; CI runs as root");
#ifdef SANDSTORM_BRIDGE_NOT_STATIC
  SS_SKIP("sanitizer build: the bridge cannot be linked statically, so it cannot run inside a "
          "package root (the normal build runs this test)");
#endif
  ss::test::TempDir temp;
  // The grain runs as its own uid: it must be able to reach the package and its storage.
  REQUIRE(chmod(temp.path().cStr(), 0711) == 0);
  std::string appDir = temp.file("notes").cStr();
  std::string dataDir = temp.file("data").cStr();
  REQUIRE(run({SANDSTORM_BINARY, "spk", "unpack", NOTES_SPK, appDir}) == 0);

  {
    DevServer dev(appDir, dataDir, 1);
    auto page = dev.request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    CAPTURE(page);
    REQUIRE(page.find("HTTP/1.1 200") == 0);
    CHECK(page.find("Notes") != std::string::npos);

    std::string form = "text=hello+from+the+sandbox";
    auto added = dev.request("POST /add HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                             "Content-Type: application/x-www-form-urlencoded\r\n"
                             "Content-Length: " + std::to_string(form.size()) + "\r\n\r\n" + form);
    CAPTURE(added);
    CHECK((added.find("HTTP/1.1 303") == 0 || added.find("HTTP/1.1 200") == 0 ||
           added.find("HTTP/1.1 302") == 0));

    // Idle: with nothing in flight the grain stops after its idle timeout (1 s here)...
    auto deadline = ss::monotonicNowMs() + 10000;
    while (grainProcesses() != 0) {
      REQUIRE(ss::monotonicNowMs() < deadline);
      usleep(100000);
    }
    // ...and the next request starts it again, with the note still there.
    page = dev.request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    CHECK(page.find("hello from the sandbox") != std::string::npos);
  }
  // A fresh dev server (a "reboot") keeps the grain's /var too.
  DevServer again(appDir, dataDir, 60);
  auto page = again.request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  CHECK(page.find("hello from the sandbox") != std::string::npos);
}
