// The HTTP server through real TCP sockets: a client thread speaks raw bytes, the test thread
// runs the reactor. Every framing vector from facts/security.md §3.1 is sent followed by a
// canary request on the same connection: the server must answer the vector's status and close,
// and the canary must never be answered (no desync).
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "http/test-server.h"

using ss::http::Exchange;
using ss::reactor::test::TestLoop;

namespace {

// Answers "<method> <target> body=<body>"; counts requests.
struct EchoHandler final: public ss::http::Handler {
  void handle(Exchange& exchange) override {
    count++;
    auto& request = exchange.request();
    targets.emplace_back(request.target);
    std::string text = std::string(request.method) + " " + std::string(request.target) +
                       " body=" + std::string(exchange.body());
    if (request.target == "/big") text.assign(4 << 20, 'x');
    exchange.respond(200, {{"Content-Type", "text/plain"}}, text);
  }
  std::atomic<int> count{0};
  std::vector<std::string> targets;
};

int countResponses(const std::string& text) {
  int count = 0;
  // Our echo and error bodies never contain "HTTP/1.1 ", so every occurrence is a response.
  for (size_t pos = 0; (pos = text.find("HTTP/1.1 ", pos)) != std::string::npos; pos++) count++;
  return count;
}

const std::string CANARY = "GET /__canary HTTP/1.1\r\nHost: a\r\n\r\n";

// The echo handler must outlive the server, so it lives in a base declared first.
struct HandlerHolder {
  EchoHandler handler;
};

struct ServerFixture: public HandlerHolder, public ss::http::test::TestServer {
  explicit ServerFixture(ss::http::ServerOptions options = {}): TestServer(handler, options) {}
};

using ss::http::test::connectTo;

}  // namespace

TEST_CASE("GET, keep-alive and pipelining answer in order", "[http]") {
  ServerFixture f;
  auto reply = f.roundTrip(
      "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
      "GET /two?x=%2F HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /three HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
      "GET /four HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  CAPTURE(reply);
  CHECK(f.handler.count == 4);
  auto one = reply.find("GET /one body=");
  auto two = reply.find("GET /two?x=%2F body=");  // target relayed exactly, never decoded
  auto three = reply.find("POST /three body=hello");
  auto four = reply.find("GET /four body=");
  REQUIRE(one != std::string::npos);
  REQUIRE(two != std::string::npos);
  REQUIRE(three != std::string::npos);
  REQUIRE(four != std::string::npos);
  CHECK((one < two && two < three && three < four));
  CHECK(reply.find("Connection: close") > three);  // only the last response closes
  CHECK(reply.find("Date: ") != std::string::npos);
}

TEST_CASE("HEAD gets Content-Length but no body", "[http]") {
  ServerFixture f;
  auto reply = f.roundTrip("HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  CHECK(reply.find("HTTP/1.1 200 OK\r\n") == 0);
  CHECK(reply.find("Content-Length: 13\r\n") != std::string::npos);  // "HEAD /x body="
  CHECK(reply.substr(reply.size() - 4) == "\r\n\r\n");
}

TEST_CASE("chunked request bodies are decoded", "[http]") {
  ServerFixture f;
  auto reply = f.roundTrip(
      "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n" + CANARY);
  CHECK(reply.find("POST /c body=hello world") != std::string::npos);
  CHECK(reply.find("GET /__canary") != std::string::npos);
  CHECK(f.handler.count == 2);
}

TEST_CASE("Expect: 100-continue gets 100 first, never for a body we would refuse", "[http]") {
  ServerFixture f;
  std::string interim;
  f.run([&]() {
    int fd = connectTo(f.port);
    std::string head = "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                       "Expect: 100-continue\r\nConnection: close\r\n\r\n";
    REQUIRE(write(fd, head.data(), head.size()) == (ssize_t)head.size());
    char buffer[4096];
    ssize_t n = read(fd, buffer, sizeof(buffer));
    REQUIRE(n > 0);
    interim.assign(buffer, n);
    REQUIRE(write(fd, "abc", 3) == 3);
    for (;;) {
      n = read(fd, buffer, sizeof(buffer));
      if (n <= 0) break;
      interim.append(buffer, n);
    }
    close(fd);
  });
  CHECK(interim.find("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK") == 0);
  CHECK(interim.find("POST /e body=abc") != std::string::npos);

  auto refused = f.roundTrip("POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999\r\n"
                             "Expect: 100-continue\r\n\r\n");
  CHECK(refused.find("HTTP/1.1 413 ") == 0);
  CHECK(refused.find("100 Continue") == std::string::npos);
}

TEST_CASE("every smuggling vector gets its error status, closes, and the canary is unseen",
          "[http]") {
  struct Vector {
    const char* name;
    std::string bytes;
    int status;
  };
  std::string chunkExt(20000, 'a');
  std::vector<Vector> vectors = {
      {"CL+TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE+CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400},
      {"duplicate CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
      {"duplicate equal CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400},
      {"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\na", 400},
      {"CL +5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400},
      {"CL 0x10", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400},
      {"CL 1Z", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1Z\r\n\r\n", 400},
      {"CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400},
      {"CL -1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"CL 20 digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
      {"TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400},
      {"TE chunked, identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400},
      {"TE ,chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"TE on HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"space before colon", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", 400},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n Content-Length: 5\r\n\r\nhello", 400},
      {"space before first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
      {"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX-Abc: \rxTransfer-Encoding: chunked\r\n\r\n", 400},
      {"head ended by CRLF CR X", "GET / HTTP/1.1\r\nHost: a\r\n\rZGET /evil HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"chunk size ended by CR X", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n", 400},
      {"junk after chunk data", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nAXX0\r\n\r\n", 400},
      {"empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400},
      {"bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", 400},
      {"LF inside a name", "GET / HTTP/1.1\r\nHost: a\r\nX\nY: z\r\n\r\n", 400},
      {"field without colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
      {"chunk size overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n", 400},
      {"chunk size 0x1", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\nA\r\n0\r\n\r\n", 400},
      {"chunk size trailing space", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nA\r\n0\r\n\r\n", 400},
      {"bare LF after chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\nA\r\n0\r\n\r\n", 400},
      {"NUL in name", std::string("GET / HTTP/1.1\r\nHost: a\r\nX\0Y: z\r\n\r\n", 35), 400},
      {"0x80 in name", "GET / HTTP/1.1\r\nHost: a\r\nX\x80Y: z\r\n\r\n", 400},
      {"NUL in value", std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 35), 400},
      {"unbounded chunk extension", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;" + chunkExt + "\r\nA\r\n0\r\n\r\n", 400},
      {"HTTP/0.9", "GET /\r\n\r\n", 400},
      {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
      {"HTTP/9.9", "GET / HTTP/9.9\r\nHost: a\r\n\r\n", 505},
      {"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
      {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"invalid Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"absolute-form other host", "GET http://evil/x HTTP/1.1\r\nHost: good\r\n\r\n", 400},
      {"CONNECT", "CONNECT host:22 HTTP/1.1\r\nHost: host:22\r\n\r\n", 400},
      {"request line too long", "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
      {"header too long", "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", 431},
  };
  std::string manyHeaders = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 150; i++) manyHeaders += "X-" + std::to_string(i) + ": v\r\n";
  vectors.push_back({"too many headers", manyHeaders + "\r\n", 431});
  std::string bigHead = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 8; i++) bigHead += "X-" + std::to_string(i) + ": " + std::string(7000, 'v') + "\r\n";
  vectors.push_back({"head too big", bigHead + "\r\n", 431});
  vectors.push_back({"body over the limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413});

  ServerFixture f;
  for (auto& vector: vectors) {
    CAPTURE(vector.name);
    int before = f.handler.count;
    auto reply = f.roundTrip(vector.bytes + CANARY);
    CAPTURE(reply);
    CHECK(reply.find("HTTP/1.1 " + std::to_string(vector.status) + " ") == 0);
    CHECK(reply.find("Connection: close\r\n") != std::string::npos);
    CHECK(reply.find("__canary") == std::string::npos);
    CHECK(reply.find("/evil") == std::string::npos);
    CHECK(countResponses(reply) == 1);
    CHECK(f.handler.count == before);  // nothing reached the handler
  }
}

TEST_CASE("leading-zero Content-Length is decimal and the canary is answered separately",
          "[http]") {
  ServerFixture f;
  auto reply = f.roundTrip("POST /z HTTP/1.1\r\nHost: a\r\nContent-Length: 010\r\n\r\n0123456789" +
                           CANARY, true);
  CHECK(reply.find("POST /z body=0123456789") != std::string::npos);
  CHECK(reply.find("GET /__canary body=") != std::string::npos);
  CHECK(f.handler.count == 2);
}

TEST_CASE("slowloris: a head that does not complete in time gets 408 and is closed", "[http]") {
  ss::http::ServerOptions options;
  options.headTimeoutMs = 300;
  ServerFixture f(options);
  std::string reply;
  uint64_t elapsed = 0;
  f.run([&]() {
    int fd = connectTo(f.port);
    auto start = ss::monotonicNowMs();
    const char* drip = "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ";
    // One byte every 50 ms: progress never extends a head deadline.
    for (const char* p = drip; *p != '\0'; p++) {
      if (send(fd, p, 1, MSG_NOSIGNAL) != 1) break;
      usleep(50000);
      char buffer[512];
      ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n > 0) { reply.append(buffer, n); break; }
      if (n == 0) break;
    }
    char buffer[512];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) reply.append(buffer, n);
    elapsed = ss::monotonicNowMs() - start;
    close(fd);
  });
  CHECK(reply.find("HTTP/1.1 408 ") == 0);
  CHECK(elapsed >= 250);
  CHECK(elapsed < 2500);
  CHECK(f.handler.count == 0);
}

TEST_CASE("idle keep-alive connections close at the idle deadline", "[http]") {
  ss::http::ServerOptions options;
  options.idleTimeoutMs = 200;
  options.headTimeoutMs = 5000;
  ServerFixture f(options);
  uint64_t elapsed = 0;
  std::string reply;
  f.run([&]() {
    int fd = connectTo(f.port);
    std::string request = "GET /k HTTP/1.1\r\nHost: a\r\n\r\n";
    REQUIRE(write(fd, request.data(), request.size()) == (ssize_t)request.size());
    auto start = ss::monotonicNowMs();
    char buffer[512];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) reply.append(buffer, n);
    elapsed = ss::monotonicNowMs() - start;
    close(fd);
  });
  CHECK(reply.find("GET /k body=") != std::string::npos);
  CHECK(elapsed >= 150);
  CHECK(elapsed < 3000);
  CHECK(f.server.stats().openConnections == 0);
}

TEST_CASE("a client that never reads a large response is dropped at the send deadline",
          "[http]") {
  ss::http::ServerOptions options;
  options.sendTimeoutMs = 300;
  ServerFixture f(options);
  f.run([&]() {
    int fd = connectTo(f.port);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    std::string request = "GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
    REQUIRE(write(fd, request.data(), request.size()) == (ssize_t)request.size());
    usleep(1500 * 1000);  // never read
    close(fd);
  });
  f.t.runUntil([&]() { return f.server.stats().openConnections == 0; }, 3000);
  CHECK(f.server.stats().timeouts >= 1);
}

TEST_CASE("the connection cap refuses extra connections and recovers", "[http]") {
  ss::http::ServerOptions options;
  options.maxConnections = 3;
  ServerFixture f(options);
  std::vector<int> fds;
  f.run([&]() {
    for (int i = 0; i < 5; i++) fds.push_back(connectTo(f.port));
  });
  f.t.runUntil([&]() { return f.server.stats().connectionsRefused >= 1; });
  CHECK(f.server.stats().openConnections == 3);
  for (int fd: fds) close(fd);
  f.t.runUntil([&]() { return f.server.stats().openConnections == 0; });
  auto reply = f.roundTrip("GET /again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  CHECK(reply.find("GET /again body=") != std::string::npos);
}

TEST_CASE("drain closes idle connections, finishes in-flight ones, and stops accepting",
          "[http]") {
  TestLoop t;
  EchoHandler handler;
  ss::http::Server server(t.reactor, handler);
  auto listener = ss::listenTcp("127.0.0.1", 0, 16);
  uint16_t port = ss::localPort(listener);
  server.listen(kj::mv(listener));

  int idle = -1, busy = -1;
  std::atomic<bool> connected{false};
  std::thread client([&]() {
    idle = connectTo(port);
    busy = connectTo(port);
    connected = true;
  });
  t.runUntil([&]() { return connected && server.stats().openConnections == 2; });
  client.join();
  // A partial request on `busy`: it is in flight when the drain starts.
  REQUIRE(write(busy, "GET /late HTTP/1.1\r\nHost: a\r\n", 29) == 29);
  t.runFor(20);

  auto drained = server.drain(5000);
  std::string busyReply;
  std::atomic<bool> finished{false};
  std::thread finisher([&]() {
    char buffer[1024];
    CHECK(read(idle, buffer, sizeof(buffer)) == 0);  // idle one: closed at once
    REQUIRE(write(busy, "\r\n", 2) == 2);
    ssize_t n;
    while ((n = read(busy, buffer, sizeof(buffer))) > 0) busyReply.append(buffer, n);
    finished = true;
  });
  t.wait(kj::mv(drained));
  finisher.join();
  CHECK(busyReply.find("GET /late body=") != std::string::npos);
  CHECK(busyReply.find("Connection: close") != std::string::npos);
  CHECK(server.stats().openConnections == 0);
  // The listener is closed: new connections are refused.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == -1);
  close(fd);
  close(idle);
  close(busy);
}

TEST_CASE("HTTP/1.0 closes by default and keeps alive only when asked", "[http]") {
  ServerFixture f;
  auto closing = f.roundTrip("GET /a HTTP/1.0\r\nHost: a\r\n\r\n" + CANARY);
  CHECK(closing.find("Connection: close") != std::string::npos);
  CHECK(closing.find("__canary") == std::string::npos);  // connection ended after one
  auto kept = f.roundTrip("GET /b HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"
                          "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  CHECK(kept.find("Connection: keep-alive") != std::string::npos);
  CHECK(kept.find("GET /c body=") != std::string::npos);
}

TEST_CASE("one client address cannot hold more than its share of connections", "[http]") {
  ss::http::ServerOptions options;
  options.maxConnectionsPerAddress = 2;
  options.loopbackExempt = false;  // our test client is on loopback
  ServerFixture f(options);
  std::vector<int> fds;
  f.run([&]() {
    for (int i = 0; i < 4; i++) fds.push_back(connectTo(f.port));
  });
  f.t.runUntil([&]() { return f.server.stats().connectionsRefused == 2; });
  CHECK(f.server.stats().openConnections == 2);
  for (int fd: fds) close(fd);
  f.t.runUntil([&]() { return f.server.stats().openConnections == 0; });
  // The count went back down: the same address may connect again.
  auto reply = f.roundTrip("GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  CHECK(reply.find("GET /x body=") != std::string::npos);
}
