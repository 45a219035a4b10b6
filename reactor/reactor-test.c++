#include "reactor/reactor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "reactor/test-loop.h"

using ss::reactor::Op;
using ss::reactor::OpTo;
using ss::reactor::Reactor;
using ss::reactor::ReactorOptions;
using ss::reactor::test::TestLoop;

namespace {

int connectTo(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  return fd;
}

// A minimal echo server built directly on the reactor's ops: what http/ does, in miniature.
struct EchoConn {
  EchoConn(Reactor& reactor, int fd): reactor(reactor), fd(fd) { reactor.prepareRecv(recv, fd); }

  void onRecv(int32_t res, uint32_t flags) {
    if (res > 0) {
      uint16_t id = flags >> IORING_CQE_BUFFER_SHIFT;
      auto bytes = reactor.buffers().take(id, res);
      pending.append(bytes.begin(), bytes.size());
      reactor.buffers().recycle(id);
      received += res;
      if (!send.inFlight()) flush();
    } else if (res == 0) {
      eof = true;
    } else {
      lastError = res;
    }
    if ((flags & IORING_CQE_F_MORE) == 0 && res > 0) reactor.prepareRecv(recv, fd);
  }
  void flush() {
    inFlightData = std::move(pending);
    pending.clear();
    if (!inFlightData.empty()) reactor.prepareSend(send, fd, inFlightData.data(), inFlightData.size());
  }
  void onSend(int32_t res, uint32_t flags) {
    REQUIRE(res == static_cast<int32_t>(inFlightData.size()));
    flush();
  }

  Reactor& reactor;
  ss::AutoCloseFd fd;
  OpTo<EchoConn, &EchoConn::onRecv> recv{*this};
  OpTo<EchoConn, &EchoConn::onSend> send{*this};
  std::string pending, inFlightData;
  size_t received = 0;
  bool eof = false;
  int lastError = 0;
};

struct Acceptor {
  Acceptor(Reactor& reactor, int listenFd): reactor(reactor) { reactor.prepareAccept(accept, listenFd); }
  void onAccept(int32_t res, uint32_t flags) {
    if (res == -ECANCELED) return;  // closeAll() cancelled the multishot accept
    REQUIRE(res >= 0);
    conns.push_back(std::make_unique<EchoConn>(reactor, res));
  }
  Reactor& reactor;
  OpTo<Acceptor, &Acceptor::onAccept> accept{*this};
  std::vector<std::unique_ptr<EchoConn>> conns;
};

// Tears a connection down the way the contract says: cancel, wait for the last CQE, free.
void closeAll(TestLoop& t, Acceptor& acceptor) {
  t.reactor.cancel(acceptor.accept);
  for (auto& conn: acceptor.conns) t.reactor.cancel(conn->recv);
  t.runUntil([&]() {
    if (acceptor.accept.inFlight()) return false;
    for (auto& conn: acceptor.conns) {
      if (conn->recv.inFlight() || conn->send.inFlight()) return false;
    }
    return true;
  });
}

}  // namespace

TEST_CASE("multishot accept, recv into the buffer ring, send, over real TCP", "[reactor]") {
  TestLoop t;
  auto listener = ss::listenTcp("127.0.0.1", 0, 64);
  Acceptor acceptor(t.reactor, listener);

  // Three clients: the one multishot accept must deliver all three.
  int clients[3];
  for (auto& c: clients) c = connectTo(ss::localPort(listener));
  t.runUntil([&]() { return acceptor.conns.size() == 3; });
  CHECK(acceptor.accept.inFlight());  // still armed (IORING_CQE_F_MORE)

  for (int i = 0; i < 3; i++) {
    auto message = kj::str("hello from ", i);
    REQUIRE(write(clients[i], message.begin(), message.size()) == (ssize_t)message.size());
  }
  t.runUntil([&]() {
    for (auto& conn: acceptor.conns) if (conn->received < 12) return false;
    return true;
  });
  for (int i = 0; i < 3; i++) {
    char buffer[64];
    ssize_t n = read(clients[i], buffer, sizeof(buffer));
    CHECK(std::string(buffer, n) == std::string(kj::str("hello from ", i).cStr()));
  }
  // Recv buffers all went back to the kernel.
  CHECK(t.reactor.buffers().held() == 0);

  // Client close is seen as EOF (res == 0).
  close(clients[0]);
  t.runUntil([&]() { return acceptor.conns[0]->eof; });
  close(clients[1]);
  close(clients[2]);
  closeAll(t, acceptor);
  CHECK(t.reactor.staleCompletions() == 0);
}

TEST_CASE("recv over a socketpair delivers a large stream intact", "[reactor]") {
  TestLoop t;
  auto pair = ss::makeSocketPair();
  EchoConn conn(t.reactor, pair.first.release());
  std::string sent;
  for (int i = 0; i < 20000; i++) sent += std::to_string(i) + ",";
  // Write from a thread (blocking) while the loop echoes; read back everything.
  int peer = pair.second;
  ss::setNonblocking(peer);
  std::string echoed;
  size_t written = 0;
  t.runUntil([&]() {
    if (written < sent.size()) {
      ssize_t n = write(peer, sent.data() + written, sent.size() - written);
      if (n > 0) written += n;
    }
    char buffer[65536];
    ssize_t n = read(peer, buffer, sizeof(buffer));
    if (n > 0) echoed.append(buffer, n);
    return echoed.size() == sent.size();
  }, 20000);
  CHECK(echoed == sent);
  t.reactor.cancel(conn.recv);
  t.runUntil([&]() { return !conn.recv.inFlight() && !conn.send.inFlight(); });
}

TEST_CASE("buffer ring exhaustion ends multishot recv with ENOBUFS and re-arms after recycle",
          "[reactor]") {
  ReactorOptions options;
  options.recvBufferCount = 4;
  options.recvBufferSize = 64;
  TestLoop t(options);

  struct Holder {
    Holder(Reactor& reactor, int fd): reactor(reactor), fd(fd) { reactor.prepareRecv(recv, fd); }
    void onRecv(int32_t res, uint32_t flags) {
      if (res > 0) {
        uint16_t id = flags >> IORING_CQE_BUFFER_SHIFT;
        auto bytes = reactor.buffers().take(id, res);
        data.append(bytes.begin(), bytes.size());
        held.push_back(id);  // keep the buffer: this is what exhausts the ring
      } else if (res == -ENOBUFS) {
        sawEnobufs = true;
        REQUIRE((flags & IORING_CQE_F_MORE) == 0);  // multishot ended
        reactor.whenBuffersAvailable([this]() {
          rearmed++;
          reactor.prepareRecv(recv, this->fd);
        });
        return;
      }
      if ((flags & IORING_CQE_F_MORE) == 0 && res > 0) reactor.prepareRecv(recv, fd);
    }
    Reactor& reactor;
    int fd;
    OpTo<Holder, &Holder::onRecv> recv{*this};
    std::string data;
    std::vector<uint16_t> held;
    bool sawEnobufs = false;
    int rearmed = 0;
  };

  auto pair = ss::makeSocketPair();
  Holder holder(t.reactor, pair.first);
  // Each write is consumed by one recv (one buffer) because we let the loop run in between.
  for (int i = 0; i < 6; i++) {
    char c = 'a' + i;
    REQUIRE(write(pair.second, &c, 1) == 1);
    t.runFor(10);
  }
  t.runUntil([&]() { return holder.sawEnobufs; });
  CHECK(holder.held.size() == 4);
  CHECK(holder.data == "abcd");
  t.runFor(30);
  CHECK(holder.rearmed == 0);  // nothing recycled yet: no busy re-arm loop

  for (uint16_t id: holder.held) t.reactor.buffers().recycle(id);
  holder.held.clear();
  t.runUntil([&]() { return holder.data == "abcdef"; });
  CHECK(holder.rearmed == 1);
  for (uint16_t id: holder.held) t.reactor.buffers().recycle(id);
  t.reactor.cancel(holder.recv);
  t.runUntil([&]() { return !holder.recv.inFlight(); });
}

TEST_CASE("cancel while in flight: the last CQE arrives before the op may die", "[reactor]") {
  TestLoop t;
  auto pair = ss::makeSocketPair();
  struct Waiter {
    void onRecv(int32_t res, uint32_t flags) { results.push_back(res); }
    std::vector<int> results;
  } waiter;
  OpTo<Waiter, &Waiter::onRecv> recv(waiter);
  t.reactor.prepareRecv(recv, pair.first);
  t.runFor(10);
  CHECK(recv.inFlight());
  CHECK(waiter.results.empty());

  t.reactor.cancel(recv);
  CHECK(recv.inFlight());  // not yet: the kernel still owns it
  t.runUntil([&]() { return !recv.inFlight(); });
  REQUIRE(waiter.results.size() == 1);
  CHECK(waiter.results[0] == -ECANCELED);

  // Data sent after the cancel is not consumed by anybody.
  REQUIRE(write(pair.second, "x", 1) == 1);
  t.runFor(10);
  char c;
  CHECK(read(pair.first, &c, 1) == 1);
}

TEST_CASE("destroying a readiness promise cancels it and frees the op after its CQE",
          "[reactor]") {
  TestLoop t;
  auto pair = ss::makeSocketPair();
  {
    auto promise = t.reactor.whenReadable(pair.first);
    t.runFor(5);
    CHECK(t.reactor.orphanCount() == 0);
  }  // promise destroyed while the poll is in the kernel
  CHECK(t.reactor.orphanCount() == 1);
  t.runUntil([&]() { return t.reactor.orphanCount() == 0; });
  // The cancelled poll must not fire later (ASan would flag a use after free here).
  REQUIRE(write(pair.second, "x", 1) == 1);
  t.runFor(20);
  CHECK(t.reactor.staleCompletions() == 0);

  // And a live one resolves.
  t.wait(t.reactor.whenReadable(pair.first));
}

TEST_CASE("KJ timers and promises run on the ring", "[reactor]") {
  TestLoop t;
  // kj::Timer measures from the loop turn's cached time, so measure from timer().now() too.
  auto start = t.reactor.timer().now();
  t.wait(t.reactor.timer().afterDelay(30 * kj::MILLISECONDS));
  auto elapsedMs = (kj::systemPreciseMonotonicClock().now() - start) / kj::MILLISECONDS;
  CHECK(elapsedMs >= 30);
  CHECK(elapsedMs < 1000);

  // Ordering of several timers, and evalLater chains. (KJ promises are lazy: joinPromises
  // runs continuations only when all are ready, so evaluate each eagerly to see fire order.)
  std::vector<int> order;
  auto a = t.reactor.timer().afterDelay(20 * kj::MILLISECONDS).then([&]() { order.push_back(2); })
               .eagerlyEvaluate(nullptr);
  auto b = t.reactor.timer().afterDelay(5 * kj::MILLISECONDS).then([&]() { order.push_back(1); })
               .eagerlyEvaluate(nullptr);
  auto c = kj::evalLater([&]() { order.push_back(0); }).eagerlyEvaluate(nullptr);
  t.wait(kj::joinPromises(kj::arr(kj::mv(a), kj::mv(b), kj::mv(c))));
  CHECK(order == std::vector<int>{0, 1, 2});
}

TEST_CASE("wake() from another thread interrupts a sleeping wait()", "[reactor]") {
  TestLoop t;
  auto start = ss::monotonicNowMs();
  std::thread waker([&]() {
    usleep(20000);
    t.reactor.wake();
  });
  // With nothing else to do, wait() sleeps until the eventfd fires.
  bool woken = t.reactor.wait();
  waker.join();
  CHECK(woken);
  CHECK(ss::monotonicNowMs() - start < 2000);
}

TEST_CASE("child exit is reported through a pidfd", "[reactor]") {
  TestLoop t;
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    usleep(20000);
    _exit(7);
  }
  int status = t.wait(t.reactor.onChildExit(child));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
  CHECK(waitpid(child, nullptr, WNOHANG) == -1);  // already reaped
  CHECK(errno == ECHILD);

  child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  auto exit = t.reactor.onChildExit(child);
  t.runFor(10);
  kill(child, SIGKILL);
  status = t.wait(kj::mv(exit));
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

TEST_CASE("io_uring refused by seccomp yields an explanation, not a crash", "[reactor]") {
  // A child installs a real seccomp filter that makes io_uring_setup fail with EPERM, exactly as
  // Docker's default profile does, then tries to build a reactor.
  auto pipe = ss::makePipe(false);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(io_uring_setup), 0);
    if (seccomp_load(ctx) != 0) _exit(3);
    kj::String message = kj::str("no exception");
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { Reactor reactor; })) {
      message = kj::str(e->getDescription());
    }
    KJ_IF_MAYBE(why, ss::reactor::probeIoUring()) {
      message = kj::str(message, "\nPROBE: ", *why);
    }
    ssize_t n = write(pipe.second, message.begin(), message.size());
    _exit(n > 0 ? 0 : 4);
  }
  pipe.second = nullptr;
  int status;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  char buffer[4096];
  ssize_t n = read(pipe.first, buffer, sizeof(buffer));
  REQUIRE(n > 0);
  std::string text(buffer, n);
  CAPTURE(text);
  CHECK(text.find("kernel.io_uring_disabled") != std::string::npos);
  CHECK(text.find("seccomp") != std::string::npos);
  CHECK(text.find("PROBE: io_uring is not permitted") != std::string::npos);
}
