#include "reactor/splice.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "base/fd.h"
#include "reactor/test-loop.h"

TEST_CASE("splicePump moves a stream socket -> pipe -> socket without user-space copies",
          "[reactor]") {
  ss::reactor::test::TestLoop t;
  auto in = ss::makeSocketPair();    // writer thread -> in.first
  auto pipe = ss::makePipe();        // in.first -> pipe -> out.first
  auto out = ss::makeSocketPair();   // out.first -> reader thread
  ss::setNonblocking(in.first);

  // 8 MiB of a pattern, written and read by threads with blocking sockets.
  std::string data;
  for (uint64_t i = 0; data.size() < 8 << 20; i++) data += std::to_string(i * 7919) + "\n";
  int writeFd = fcntl(in.second, F_DUPFD_CLOEXEC, 0);
  int readFd = fcntl(out.second, F_DUPFD_CLOEXEC, 0);
  fcntl(writeFd, F_SETFL, 0);
  fcntl(readFd, F_SETFL, 0);
  in.second = nullptr;
  out.second = nullptr;
  std::thread writer([&]() {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = write(writeFd, data.data() + done, data.size() - done);
      if (n <= 0) break;
      done += n;
    }
    close(writeFd);
  });
  std::string received;
  std::thread reader([&]() {
    char buffer[65536];
    for (;;) {
      ssize_t n = read(readFd, buffer, sizeof(buffer));
      if (n <= 0) break;
      received.append(buffer, n);
    }
    close(readFd);
  });

  auto first = ss::reactor::splicePump(t.reactor, in.first, pipe.second);
  auto second = ss::reactor::splicePump(t.reactor, pipe.first, out.first);
  // When the first pump hits EOF, close the pipe's write end so the second one sees EOF too.
  auto both = first.then([&](uint64_t n) {
    pipe.second = nullptr;
    return n;
  }).then([&](uint64_t n) {
    return second.then([n](uint64_t m) { return std::make_pair(n, m); });
  });
  auto [n, m] = t.wait(kj::mv(both), 30000);
  out.first = nullptr;  // reader sees EOF
  writer.join();
  reader.join();
  CHECK(n == data.size());
  CHECK(m == data.size());
  CHECK(received == data);
}

TEST_CASE("splicePump stops at its limit and reports EPIPE as an error", "[reactor]") {
  ss::reactor::test::TestLoop t;
  auto pipeA = ss::makePipe();
  auto pipeB = ss::makePipe();
  REQUIRE(write(pipeA.second, "0123456789", 10) == 10);
  CHECK(t.wait(ss::reactor::splicePump(t.reactor, pipeA.first, pipeB.second, 4)) == 4);
  char buffer[16];
  CHECK(read(pipeB.first, buffer, sizeof(buffer)) == 4);
  CHECK(std::string(buffer, 4) == "0123");

  pipeB.first = nullptr;  // nobody will read: EPIPE
  REQUIRE_THROWS_WITH(t.wait(ss::reactor::splicePump(t.reactor, pipeA.first, pipeB.second)),
                      Catch::Contains("EPIPE"));
}
