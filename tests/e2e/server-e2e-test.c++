// The real binary, started the way a user starts it, on an ephemeral port.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/clock.h"
#include "tests/test-support.h"

namespace {

class RunningServer {
public:
  explicit RunningServer(const std::string& dataDir, std::vector<std::string> extra = {}) {
    int out[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      std::vector<std::string> args = {SANDSTORM_BINARY, "run", "--port", "0",
                                       "--data-dir", dataDir, "--ui-dir", SHELL_UI_DIR};
      for (auto& e: extra) args.push_back(e);
      std::vector<char*> argv;
      for (auto& a: args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    stdoutFd = out[0];
    // Wait (bounded) for "Sandstorm is running at http://127.0.0.1:<port>/".
    std::string line;
    auto deadline = ss::monotonicNowMs() + 15000;
    while (line.find('\n') == std::string::npos) {
      REQUIRE(ss::monotonicNowMs() < deadline);
      pollfd p{stdoutFd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buffer[256];
      ssize_t n = read(stdoutFd, buffer, sizeof(buffer));
      REQUIRE(n > 0);
      line.append(buffer, n);
    }
    CAPTURE(line);
    auto pos = line.find("http://127.0.0.1:");
    REQUIRE(pos == line.find("Sandstorm is running at ") + 24);
    port = static_cast<uint16_t>(std::stoi(line.substr(pos + 17)));
  }

  ~RunningServer() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    close(stdoutFd);
  }

  // SIGTERM, then the exit status (bounded wait).
  int terminate() {
    kill(pid, SIGTERM);
    auto deadline = ss::monotonicNowMs() + 15000;
    int status = -1;
    while (ss::monotonicNowMs() < deadline) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pid = -1;
        return status;
      }
      usleep(10000);
    }
    FAIL("server did not exit within 15 s of SIGTERM");
    return -1;
  }

  std::string roundTrip(const std::string& bytes) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    timeval tv{5, 0};
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
  int stdoutFd = -1;
  uint16_t port = 0;
};

}  // namespace

TEST_CASE("sandstorm run serves the shell page and stops cleanly on SIGTERM", "[e2e]") {
  ss::test::TempDir data;
  RunningServer server(data.file("data").cStr());

  auto page = server.roundTrip("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  CHECK(page.find("HTTP/1.1 200 OK") == 0);
  CHECK(page.find("Content-Type: text/html; charset=utf-8") != std::string::npos);
  CHECK(page.find("Content-Security-Policy: ") != std::string::npos);
  CHECK(page.find("Sandstorm") != std::string::npos);

  auto missing = server.roundTrip("GET /no-such-page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(missing.find("HTTP/1.1 404 ") == 0);

  // The data directory was created with its store.
  CHECK(access(data.file("data/sandstorm.sqlite3").cStr(), R_OK) == 0);

  int status = server.terminate();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("malformed requests get 400 and the server keeps serving", "[e2e]") {
  ss::test::TempDir data;
  RunningServer server(data.file("data").cStr());
  const char* vectors[] = {
      "GET / HTTP/1.1\r\nHost: a\r\n\r\rZGET /evil HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "GET / HTTP/1.1\r\nX: \rxTransfer-Encoding: chunked\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello on the plain port
  };
  for (auto vector: vectors) {
    CAPTURE(vector);
    auto reply = server.roundTrip(std::string(vector) + "GET /__canary HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(reply.find("HTTP/1.1 400 ") == 0);
    CHECK(reply.find("__canary") == std::string::npos);
  }
  auto page = server.roundTrip("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  CHECK(page.find("HTTP/1.1 200 OK") == 0);
  CHECK(WEXITSTATUS(server.terminate()) == 0);
}

TEST_CASE("a second server on the same data directory is refused with a clear message",
          "[e2e]") {
  ss::test::TempDir data;
  RunningServer first(data.file("data").cStr());
  int err[2];
  REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(err[1], STDERR_FILENO);
    std::string dir = data.file("data").cStr();
    execl(SANDSTORM_BINARY, SANDSTORM_BINARY, "run", "--port", "0", "--data-dir", dir.c_str(),
          "--ui-dir", SHELL_UI_DIR, (char*)nullptr);
    _exit(127);
  }
  close(err[1]);
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = read(err[0], buffer, sizeof(buffer))) > 0) text.append(buffer, n);
  close(err[0]);
  int status;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CAPTURE(text);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(text.find("already using this data directory") != std::string::npos);
  CHECK(WEXITSTATUS(first.terminate()) == 0);
}
