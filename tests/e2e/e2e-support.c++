#include "tests/e2e/e2e-support.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "tests/test-support.h"

namespace ss::e2e {

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

DevServer::DevServer(const std::string& app, const std::string& dataDir, int idleSeconds) {
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    std::string idle = std::to_string(idleSeconds);
    execl(SANDSTORM_BINARY, SANDSTORM_BINARY, "dev", "--port", "0", "--data-dir",
          dataDir.c_str(), "--idle-timeout", idle.c_str(), app.c_str(), (char*)nullptr);
    _exit(127);
  }
  close(out[1]);
  std::string line;
  auto deadline = ss::monotonicNowMs() + 30000;
  // Lines before the URL (e.g. "Verifying and unpacking ...") are skipped.
  while (line.find("http://127.0.0.1:") == std::string::npos ||
         line.find('\n', line.find("http://127.0.0.1:")) == std::string::npos) {
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

DevServer::~DevServer() {
  if (pid > 0) {
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
  }
}

int DevServer::connect() const {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

std::string DevServer::request(const std::string& bytes, int timeoutSeconds) const {
  int fd = connect();
  timeval tv{timeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  REQUIRE(writeAll(fd, bytes.data(), bytes.size()));
  std::string reply;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) reply.append(buffer, n);
  close(fd);
  return reply;
}

int grainProcesses(const std::string& cgroupPart) {
  int count = 0;
  DIR* proc = opendir("/proc");
  REQUIRE(proc != nullptr);
  while (dirent* entry = readdir(proc)) {
    if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
    std::string path = std::string("/proc/") + entry->d_name + "/cgroup";
    FILE* f = fopen(path.c_str(), "r");
    if (f == nullptr) continue;  // exited meanwhile
    char line[1024];
    bool match = false;
    while (!match && fgets(line, sizeof(line), f) != nullptr) {
      match = strstr(line, cgroupPart.c_str()) != nullptr;
    }
    fclose(f);
    if (match) count++;
  }
  closedir(proc);
  return count;
}

size_t rssKiB(pid_t pid, const char* field) {
  std::string path = "/proc/" + std::to_string(pid) + "/status";
  FILE* f = fopen(path.c_str(), "r");
  if (f == nullptr) return 0;
  char line[256];
  size_t value = 0;
  size_t fieldLength = strlen(field);
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (strncmp(line, field, fieldLength) == 0) value = strtoull(line + fieldLength, nullptr, 10);
  }
  fclose(f);
  return value;
}

bool readExactly(int fd, void* buffer, size_t size) {
  auto* p = static_cast<char*>(buffer);
  while (size > 0) {
    ssize_t n = read(fd, p, size);
    if (n <= 0) return false;
    p += n;
    size -= n;
  }
  return true;
}

bool writeAll(int fd, const void* data, size_t size) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    p += n;
    size -= n;
  }
  return true;
}

std::string readHead(int fd) {
  std::string head;
  char c;
  while (head.size() < 65536 && read(fd, &c, 1) == 1) {
    head.push_back(c);
    if (head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0) break;
  }
  return head;
}

}  // namespace ss::e2e
