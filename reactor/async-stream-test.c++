#include "reactor/async-stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "base/fd.h"
#include "reactor/test-loop.h"

using ss::reactor::ReactorStream;

TEST_CASE("ReactorStream reads and writes through the ring, with back-pressure", "[reactor]") {
  ss::reactor::test::TestLoop t;
  auto pair = ss::makeSocketPair();
  ReactorStream a(t.reactor, kj::mv(pair.first));
  ReactorStream b(t.reactor, kj::mv(pair.second));

  // 16 MiB cannot fit in the socket buffers: the write must wait for the reader.
  std::string data(16 << 20, '\0');
  for (size_t i = 0; i < data.size(); i++) data[i] = char(i * 31 + (i >> 13));
  auto writing = a.write(data.data(), data.size()).then([&]() { a.shutdownWrite(); })
                     .eagerlyEvaluate(nullptr);  // KJ promises are lazy: keep writing
  std::string received(data.size() + 10, '\0');
  auto reading = b.tryRead(received.data(), received.size(), received.size());
  size_t n = t.wait(reading.exclusiveJoin(kj::NEVER_DONE), 20000);
  t.wait(kj::mv(writing));
  received.resize(n);
  CHECK(n == data.size());  // EOF after the shutdown ends the read short of maxBytes
  CHECK(received == data);
}

TEST_CASE("ReactorStream passes file descriptors with the bytes they belong to", "[reactor]") {
  ss::reactor::test::TestLoop t;
  auto pair = ss::makeSocketPair();
  ReactorStream a(t.reactor, kj::mv(pair.first));
  ReactorStream b(t.reactor, kj::mv(pair.second));
  auto pipe = ss::makePipe(false);

  kj::byte hello[] = {'h', 'i'};
  int fds[] = {pipe.second.get()};
  t.wait(a.writeWithFds(hello, nullptr, fds));
  pipe.second = nullptr;  // only the copy in flight keeps the write end open

  kj::byte buffer[8];
  kj::AutoCloseFd received[2];
  auto result = t.wait(b.tryReadWithFds(buffer, 2, sizeof(buffer), received, 2));
  CHECK(result.byteCount == 2);
  REQUIRE(result.capCount == 1);
  CHECK((fcntl(received[0], F_GETFD) & FD_CLOEXEC) != 0);  // received close-on-exec
  REQUIRE(write(received[0], "through", 7) == 7);
  received[0] = nullptr;
  char text[16];
  ssize_t n = read(pipe.first, text, sizeof(text));
  CHECK(std::string(text, n) == "through");
}

TEST_CASE("ReactorStream reports a peer that went away", "[reactor]") {
  ss::reactor::test::TestLoop t;
  auto pair = ss::makeSocketPair();
  ReactorStream a(t.reactor, kj::mv(pair.first));
  auto disconnected = a.whenWriteDisconnected();
  bool fired = false;
  auto watched = disconnected.then([&]() { fired = true; }).eagerlyEvaluate(nullptr);
  t.runFor(20);
  CHECK(!fired);
  pair.second = nullptr;
  t.runUntil([&]() { return fired; });
  REQUIRE_THROWS_WITH(t.wait(a.write("x", 1)), Catch::Contains("disconnected"));
}
