// Asynchronous and streaming exchanges: deferred responses, bodies through pipes (splice), and
// cancellation when the client goes away. Real sockets, pipes and threads.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include <kj/vector.h>

#include "http/server.h"
#include "http/test-server.h"

namespace {

std::string pattern(size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; i++) data[i] = char('a' + (i * 7 + i / 4096) % 26);
  return data;
}

// Writes `data` into a pipe's write end from a thread (blocking), then closes it.
std::thread feedPipe(int writeFd, std::string data) {
  int flags = fcntl(writeFd, F_GETFL);
  fcntl(writeFd, F_SETFL, flags & ~O_NONBLOCK);
  return std::thread([writeFd, data = std::move(data)]() {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = write(writeFd, data.data() + done, data.size() - done);
      if (n <= 0) break;
      done += n;
    }
    close(writeFd);
  });
}

struct AsyncHandler final: public ss::http::Handler {
  explicit AsyncHandler(ss::reactor::Reactor& reactor): reactor(reactor) {}

  BodyPolicy bodyPolicy(const ss::http::Request& request) override {
    return request.target == "/upload" ? BodyPolicy::STREAM : BodyPolicy::BUFFER;
  }

  void handle(ss::http::Exchange& exchange) override {
    auto target = std::string(exchange.request().target);
    if (target == "/slow") {
      exchange.defer(reactor.timer().afterDelay(50 * kj::MILLISECONDS).then([&exchange]() {
        exchange.respond(200, {}, "slow done");
      }));
    } else if (target == "/never") {
      struct Flag {
        std::atomic<bool>& flag;
        ~Flag() { flag = true; }
      };
      exchange.defer(kj::Promise<void>(kj::NEVER_DONE).attach(kj::heap<Flag>({cancelled})));
    } else if (target == "/download" || target == "/download-unknown" ||
               target == "/download-short") {
      auto pipe = ss::makePipe();
      std::string data = pattern(8 << 20);
      int64_t length = target == "/download" ? int64_t(data.size())
                     : target == "/download-short" ? int64_t(data.size() + 10) : -1;
      writers.push_back(feedPipe(pipe.second.release(), std::move(data)));
      exchange.defer(kj::evalLater([&exchange, fd = kj::mv(pipe.first), length]() mutable {
        exchange.respondWithPipe(200, {}, kj::mv(fd), length);
      }));
    } else if (target == "/upload") {
      auto body = KJ_ASSERT_NONNULL(exchange.takeBodyPipe());
      int fd = body.release();
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      auto done = kj::newPromiseAndCrossThreadFulfiller<std::string>();
      auto* fulfiller = done.fulfiller.get();
      fulfillers.add(kj::mv(done.fulfiller));
      readers.push_back(std::thread([fd, fulfiller]() {
        std::string received;
        char buffer[65536];
        ssize_t n;
        while ((n = read(fd, buffer, sizeof(buffer))) > 0) received.append(buffer, n);
        close(fd);
        fulfiller->fulfill(kj::mv(received));
      }));
      exchange.defer(done.promise.then([this, &exchange](std::string received) {
        uploaded = received;
        exchange.respond(200, {}, "got " + std::to_string(received.size()));
      }));
    } else if (target == "/tunnel") {
      // An echo "app": bytes from the client's pipe come back through the other pipe.
      auto up = ss::makePipe();
      auto down = ss::makePipe();
      int upRead = up.first.release();
      int downWrite = down.second.release();
      fcntl(upRead, F_SETFL, 0);
      fcntl(downWrite, F_SETFL, 0);
      writers.push_back(std::thread([upRead, downWrite]() {
        char buffer[65536];
        ssize_t n;
        while ((n = read(upRead, buffer, sizeof(buffer))) > 0) {
          if (write(downWrite, buffer, n) != n) break;
        }
        close(upRead);
        close(downWrite);
      }));
      exchange.defer(kj::evalLater([&exchange, toApp = kj::mv(up.second),
                                    fromApp = kj::mv(down.first)]() mutable {
        ss::http::HeaderOut headers[] = {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}};
        exchange.upgradeToTunnel(headers, kj::mv(toApp), kj::mv(fromApp));
      }));
    } else {
      exchange.respond(200, {}, "sync " + target);
    }
  }

  ~AsyncHandler() {
    for (auto& t: writers) t.join();
    for (auto& t: readers) t.join();
  }

  ss::reactor::Reactor& reactor;
  std::atomic<bool> cancelled{false};
  std::vector<std::thread> writers, readers;
  std::string uploaded;
  kj::Vector<kj::Own<kj::CrossThreadPromiseFulfiller<std::string>>> fulfillers;
};

struct Fixture {
  ss::reactor::test::TestLoop* loop;
};

}  // namespace

TEST_CASE("deferred responses keep pipelined requests in order", "[http]") {
  ss::reactor::test::TestLoop* loopPtr = nullptr;
  struct Holder {
    Holder(): handler(nullptr) {}
    std::unique_ptr<AsyncHandler> handler;
  };
  // The handler needs the reactor, which the TestServer owns: build in two steps.
  struct Setup {
    ss::reactor::test::TestLoop t;
    AsyncHandler handler{t.reactor};
    ss::http::Server server{t.reactor, handler};
    uint16_t port;
    Setup() {
      auto listener = ss::listenTcp("127.0.0.1", 0, 16);
      port = ss::localPort(listener);
      server.listen(kj::mv(listener));
    }
  };
  (void)loopPtr;
  Setup s;
  std::string reply;
  std::atomic<bool> done{false};
  std::thread client([&]() {
    int fd = ss::http::test::connectTo(s.port);
    std::string requests = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
                           "GET /fast HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    REQUIRE(write(fd, requests.data(), requests.size()) == (ssize_t)requests.size());
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) reply.append(buffer, n);
    close(fd);
    done = true;
  });
  s.t.runUntil([&]() { return done.load(); });
  client.join();
  auto slow = reply.find("slow done");
  auto fast = reply.find("sync /fast");
  REQUIRE(slow != std::string::npos);
  REQUIRE(fast != std::string::npos);
  CHECK(slow < fast);
  s.t.wait(s.server.drain(1000));
}

namespace {
struct AsyncSetup {
  ss::reactor::test::TestLoop t;
  AsyncHandler handler{t.reactor};
  ss::http::Server server{t.reactor, handler};
  uint16_t port;
  AsyncSetup() {
    auto listener = ss::listenTcp("127.0.0.1", 0, 16);
    port = ss::localPort(listener);
    server.listen(kj::mv(listener));
  }
  ~AsyncSetup() noexcept(false) { t.wait(server.drain(2000)); }

  std::string roundTrip(const std::string& bytes) {
    std::string reply;
    std::atomic<bool> done{false};
    std::thread client([&]() {
      int fd = ss::http::test::connectTo(port);
      size_t sent = 0;
      while (sent < bytes.size()) {
        ssize_t n = write(fd, bytes.data() + sent, bytes.size() - sent);
        if (n <= 0) break;
        sent += n;
      }
      char buffer[65536];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) reply.append(buffer, n);
      close(fd);
      done = true;
    });
    t.runUntil([&]() { return done.load(); }, 20000);
    client.join();
    return reply;
  }
};
}  // namespace

TEST_CASE("a client that goes away cancels the deferred work", "[http]") {
  AsyncSetup s;
  std::atomic<bool> done{false};
  std::thread client([&]() {
    int fd = ss::http::test::connectTo(s.port);
    std::string request = "GET /never HTTP/1.1\r\nHost: a\r\n\r\n";
    REQUIRE(write(fd, request.data(), request.size()) == (ssize_t)request.size());
    usleep(50000);
    close(fd);
    done = true;
  });
  s.t.runUntil([&]() { return done.load() && s.handler.cancelled.load(); });
  client.join();
  s.t.runUntil([&]() { return s.server.stats().openConnections == 0; });
}

TEST_CASE("response bodies stream from a pipe with splice, framed by Content-Length",
          "[http]") {
  AsyncSetup s;
  auto reply = s.roundTrip("GET /download HTTP/1.1\r\nHost: a\r\n\r\n"
                           "GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  auto headEnd = reply.find("\r\n\r\n");
  REQUIRE(headEnd != std::string::npos);
  CHECK(reply.find("Content-Length: 8388608\r\n") < headEnd);
  auto expected = pattern(8 << 20);
  CHECK(reply.compare(headEnd + 4, expected.size(), expected) == 0);
  // Keep-alive survived the streamed body: the next request was answered after it.
  CHECK(reply.find("sync /after", headEnd + 4 + expected.size()) != std::string::npos);
}

TEST_CASE("a body of unknown length is sent close-delimited", "[http]") {
  AsyncSetup s;
  auto reply = s.roundTrip("GET /download-unknown HTTP/1.1\r\nHost: a\r\n\r\n");
  auto headEnd = reply.find("\r\n\r\n");
  REQUIRE(headEnd != std::string::npos);
  CHECK(reply.find("Content-Length") > headEnd);
  CHECK(reply.find("Connection: close") < headEnd);
  CHECK(reply.size() - headEnd - 4 == size_t(8 << 20));
}

TEST_CASE("a body shorter than its Content-Length ends the connection", "[http]") {
  AsyncSetup s;
  auto reply = s.roundTrip("GET /download-short HTTP/1.1\r\nHost: a\r\n\r\n"
                           "GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK(reply.find("sync /after") == std::string::npos);  // not misread as body or answered
  auto headEnd = reply.find("\r\n\r\n");
  CHECK(reply.size() - headEnd - 4 == size_t(8 << 20));
}

TEST_CASE("request bodies stream to the handler through a pipe", "[http]") {
  AsyncSetup s;
  auto body = pattern(8 << 20);
  auto reply = s.roundTrip("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body +
                           "GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  CHECK(reply.find("got 8388608") != std::string::npos);
  CHECK(s.handler.uploaded == body);
  CHECK(reply.find("sync /next") != std::string::npos);  // the next request after the body
}

TEST_CASE("an upgraded connection becomes a spliced tunnel in both directions", "[http]") {
  AsyncSetup s;
  std::string reply;
  std::atomic<bool> done{false};
  std::thread client([&]() {
    int fd = ss::http::test::connectTo(s.port);
    // The handshake and the first tunnel bytes in one write: those must not be lost.
    std::string hello = "GET /tunnel HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\n\r\nearly;";
    REQUIRE(write(fd, hello.data(), hello.size()) == (ssize_t)hello.size());
    // Read on another thread: the echo pushes back while we are still writing.
    std::thread reader([&]() {
      char buffer[65536];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) reply.append(buffer, n);
    });
    std::string big = pattern(4 << 20);
    size_t sent = 0;
    while (sent < big.size()) {
      ssize_t n = write(fd, big.data() + sent, big.size() - sent);
      if (n <= 0) break;
      sent += n;
    }
    shutdown(fd, SHUT_WR);  // the echo app sees EOF and closes its side
    reader.join();
    close(fd);
    done = true;
  });
  s.t.runUntil([&]() { return done.load(); }, 20000);
  client.join();
  auto headEnd = reply.find("\r\n\r\n");
  REQUIRE(headEnd != std::string::npos);
  CHECK(reply.find("HTTP/1.1 101 Switching Protocols") == 0);
  CHECK(reply.find("Upgrade: websocket") < headEnd);
  CHECK(reply.substr(headEnd + 4) == "early;" + pattern(4 << 20));
  s.t.runUntil([&]() { return s.server.stats().openConnections == 0; });
}
