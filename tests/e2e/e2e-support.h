// Helpers for the multi-process tests: run the real CLI, start `sandstorm dev`, talk raw HTTP
// and WebSocket over real loopback sockets. Every wait is bounded.
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace ss::e2e {

int run(std::vector<std::string> args);
// Runs a program to completion; its exit status (128 + signal when killed).

class DevServer {
public:
  DevServer(const std::string& app, const std::string& dataDir, int idleSeconds);
  // `sandstorm dev --port 0 ... <app>`; waits (bounded) for the URL line and parses the port.
  ~DevServer();
  DevServer(const DevServer&) = delete;
  DevServer& operator=(const DevServer&) = delete;

  std::string request(const std::string& bytes, int timeoutSeconds = 20) const;
  // One connection: sends `bytes`, reads until the server closes it.
  int connect() const;
  // A connected, blocking socket with a 20 s receive timeout.

  pid_t pid = -1;
  uint16_t port = 0;
};

int grainProcesses(const std::string& cgroupPart);
// Processes whose cgroup path contains `cgroupPart` (a grain's cgroup is named after its id;
// tests run in parallel, so counting every grain-uid process would see other tests' grains).

size_t rssKiB(pid_t pid, const char* field = "VmRSS:");
// From /proc/<pid>/status (VmRSS:, VmHWM:); 0 if unreadable.

bool readExactly(int fd, void* buffer, size_t size);
bool writeAll(int fd, const void* data, size_t size);

std::string readHead(int fd);
// Reads up to and including "\r\n\r\n" (byte by byte: whatever follows stays in the socket).

}  // namespace ss::e2e
