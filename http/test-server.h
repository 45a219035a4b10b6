// Test helpers: a Server on a TestLoop, and a raw-socket client run on a thread while the
// reactor serves on the test's thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "base/fd.h"
#include "http/server.h"
#include "reactor/test-loop.h"

namespace ss::http::test {

inline int connectTo(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

struct TestServer {
  explicit TestServer(Handler& handler, ServerOptions options = {})
      : server(t.reactor, handler, options) {
    auto listener = listenTcp("127.0.0.1", 0, 128);
    port = localPort(listener);
    server.listen(kj::mv(listener));
  }
  ~TestServer() noexcept(false) { t.wait(server.drain(1000)); }

  // Runs `client` on a thread while the reactor serves; returns when the client is done.
  void run(std::function<void()> client, uint64_t timeoutMs = 10000) {
    std::atomic<bool> done{false};
    std::thread thread([&]() {
      client();
      done = true;
    });
    t.runUntil([&]() { return done.load(); }, timeoutMs);
    thread.join();
  }

  // Sends `bytes` on a fresh connection and reads until the server closes it (or 5 s).
  std::string roundTrip(std::string bytes, bool shutdownWrite = false) {
    std::string received;
    run([&]() {
      int fd = connectTo(port);
      size_t done = 0;
      while (done < bytes.size()) {
        ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n <= 0) break;
        done += n;
      }
      if (shutdownWrite) shutdown(fd, SHUT_WR);
      char buffer[65536];
      for (;;) {
        ssize_t n = read(fd, buffer, sizeof(buffer));
        if (n <= 0) break;
        received.append(buffer, n);
      }
      close(fd);
    });
    return received;
  }

  reactor::test::TestLoop t;
  Server server;
  uint16_t port;
};

}  // namespace ss::http::test
