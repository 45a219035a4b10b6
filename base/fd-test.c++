#include "base/fd.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/test-support.h"

TEST_CASE("fds are created close-on-exec and non-blocking", "[base]") {
  auto pipe = ss::makePipe();
  auto pair = ss::makeSocketPair();
  auto event = ss::makeEventFd();
  for (int fd: {pipe.first.get(), pipe.second.get(), pair.first.get(), pair.second.get(),
                event.get()}) {
    CAPTURE(fd);
    CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
  }
  // Non-blocking means an empty pipe says EAGAIN rather than hanging the test.
  char c;
  CHECK(read(pipe.first, &c, 1) == -1);
  CHECK(errno == EAGAIN);
}

TEST_CASE("listenTcp binds an ephemeral port and reports EADDRINUSE with the port", "[base]") {
  auto listener = ss::listenTcp("127.0.0.1", 0, 16);
  uint16_t port = ss::localPort(listener);
  CHECK(port != 0);
  REQUIRE_THROWS_WITH(ss::listenTcp("127.0.0.1", port, 16),
                      Catch::Contains("Address already in use") && Catch::Contains(kj::str(port).cStr()));
  REQUIRE_THROWS_WITH(ss::listenTcp("not-an-ip", 0, 16), Catch::Contains("not an IP address"));
}

TEST_CASE("readFile reads whole files and names the path on error", "[base]") {
  ss::test::TempDir dir;
  auto path = dir.file("x.txt");
  {
    int fd = open(path.cStr(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "hello", 5) == 5);
    close(fd);
  }
  CHECK(ss::readFile(path) == "hello");
  REQUIRE_THROWS_WITH(ss::readFile(dir.file("missing")), Catch::Contains("missing"));
}
