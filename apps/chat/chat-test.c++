// The chat app run directly (no sandbox) on a free port with a temporary CHAT_VAR_DIR, driven
// over real sockets: the RFC 6455 handshake, broadcast, 1 MiB messages, the close codes for
// protocol violations, ping/pong, the close handshake, history across a restart, 400s for bad
// requests, and hostile or slow clients that must not take the room down.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "tests/test-support.h"

namespace {

int64_t nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  return ntohs(addr.sin_port);
}

// One chat process; killed (SIGKILL, as a stopped grain would be) when it goes out of scope.
class Chat {
public:
  explicit Chat(std::string dir): dir(std::move(dir)) { start(); }
  ~Chat() { stop(); }
  Chat(const Chat&) = delete;
  Chat& operator=(const Chat&) = delete;

  void start() {
    port = freePort();
    pid = fork();
    if (pid == 0) {
      setenv("CHAT_VAR_DIR", dir.c_str(), 1);
      std::string p = std::to_string(port);
      execl(CHAT_BINARY, "chat", p.c_str(), nullptr);
      _exit(127);
    }
    REQUIRE(pid > 0);
  }
  void stop() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  bool alive() const { return pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0; }

  int connect() const {
    auto deadline = nowMs() + 10'000;
    for (;;) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
        timeval tv{10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        return fd;
      }
      close(fd);
      REQUIRE(alive());
      REQUIRE(nowMs() < deadline);
      usleep(10'000);
    }
  }

  std::string dir;
  int port = 0;
  pid_t pid = -1;
};

void sendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    off += n;
  }
}

std::string readN(int fd, size_t n) {
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    char buf[65536];
    ssize_t r = read(fd, buf, std::min(sizeof(buf), n - out.size()));
    REQUIRE(r > 0);
    out.append(buf, r);
  }
  return out;
}

// True once the peer has closed (EOF or reset); false if it sent more bytes instead.
bool readsEof(int fd) {
  char c;
  ssize_t r = read(fd, &c, 1);
  REQUIRE((r >= 0 || errno == ECONNRESET));  // not a timeout
  return r <= 0;
}

std::string readHead(int fd) {
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    char c;
    REQUIRE(read(fd, &c, 1) == 1);
    head += c;
  }
  return head;
}

struct Response {
  int status = 0;
  std::string head, body;
};

// Sends `request` raw on a fresh connection and reads one response (Content-Length framed).
Response http(const Chat& chat, const std::string& request, bool headOnly = false) {
  int fd = chat.connect();
  sendAll(fd, request);
  Response r;
  r.head = readHead(fd);
  REQUIRE(r.head.rfind("HTTP/1.1 ", 0) == 0);
  r.status = std::stoi(r.head.substr(9, 3));
  auto at = r.head.find("Content-Length: ");
  REQUIRE(at != std::string::npos);
  if (!headOnly) r.body = readN(fd, std::stoul(r.head.substr(at + 16)));
  close(fd);
  return r;
}

const char SAMPLE_KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";
const char SAMPLE_ACCEPT[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";  // RFC 6455 §1.3

std::string upgradeRequest(const char* user = nullptr, const std::string& extra = "") {
  std::string r = std::string("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: ") +
                  SAMPLE_KEY + "\r\nSec-WebSocket-Version: 13\r\n" + extra;
  if (user) r += std::string("X-Sandstorm-Username: ") + user + "\r\n";
  return r + "\r\n";
}

int openSocket(const Chat& chat, const char* user = nullptr) {
  int fd = chat.connect();
  sendAll(fd, upgradeRequest(user));
  auto head = readHead(fd);
  CAPTURE(head);
  REQUIRE(head.rfind("HTTP/1.1 101", 0) == 0);
  return fd;
}

std::string clientFrame(uint8_t opcode, const std::string& payload, bool masked = true,
                        bool fin = true) {
  std::string f(1, char((fin ? 0x80 : 0) | opcode));
  uint8_t m = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    f += char(m | payload.size());
  } else if (payload.size() < 65536) {
    f += char(m | 126);
    f += char(payload.size() >> 8);
    f += char(payload.size() & 0xff);
  } else {
    f += char(m | 127);
    for (int i = 7; i >= 0; i--) f += char((uint64_t(payload.size()) >> (8 * i)) & 0xff);
  }
  std::string body = payload;
  if (masked) {
    const char key[4] = {0x37, char(0xfa), 0x21, 0x3d};
    f.append(key, 4);
    for (size_t i = 0; i < body.size(); i++) body[i] ^= key[i % 4];
  }
  return f + body;
}

struct Frame {
  int opcode;
  std::string payload;
};

Frame readFrame(int fd) {
  auto h = readN(fd, 2);
  CHECK((uint8_t(h[0]) & 0x80) != 0);  // we never fragment
  CHECK((uint8_t(h[1]) & 0x80) == 0);  // servers never mask
  uint64_t len = uint8_t(h[1]) & 0x7f;
  if (len == 126) {
    auto e = readN(fd, 2);
    len = uint8_t(e[0]) << 8 | uint8_t(e[1]);
  } else if (len == 127) {
    auto e = readN(fd, 8);
    len = 0;
    for (char c: e) len = len << 8 | uint8_t(c);
  }
  REQUIRE(len < 64 * 1024 * 1024);
  return {uint8_t(h[0]) & 0x0f, readN(fd, len)};
}

// Reads the server's close frame, checks its code, and that the server then closes the TCP
// connection (after the close handshake the server closes first, RFC 6455 §7.1.1).
void expectClose(int fd, uint16_t code) {
  auto f = readFrame(fd);
  REQUIRE(f.opcode == 0x8);
  REQUIRE(f.payload.size() >= 2);
  CHECK((uint8_t(f.payload[0]) << 8 | uint8_t(f.payload[1])) == code);
  CHECK(readsEof(fd));
}

// The value of a string field in one of our JSON objects, unescaped.
std::string jsonField(const std::string& json, const std::string& name) {
  auto at = json.find("\"" + name + "\":\"");
  REQUIRE(at != std::string::npos);
  std::string out;
  for (size_t i = at + name.size() + 4; i < json.size(); i++) {
    char c = json[i];
    if (c == '"') return out;
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = json[++i];
    if (e == 'n') out += '\n';
    else if (e == 't') out += '\t';
    else if (e == 'r') out += '\r';
    else if (e == 'u') {
      out += char(std::stoi(json.substr(i + 1, 4), nullptr, 16));  // we only escape < 0x80
      i += 4;
    } else out += e;
  }
  FAIL("unterminated string");
  return out;
}

}  // namespace

TEST_CASE("chat: the handshake answers the RFC 6455 sample key", "[apps][chat]") {
  ss::test::TempDir dir;
  Chat chat(dir.path().cStr());
  int fd = chat.connect();
  sendAll(fd, upgradeRequest("alice"));
  auto head = readHead(fd);
  CAPTURE(head);
  CHECK(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
  CHECK(head.find("\r\nUpgrade: websocket\r\n") != std::string::npos);
  CHECK(head.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
  CHECK(head.find(std::string("\r\nSec-WebSocket-Accept: ") + SAMPLE_ACCEPT + "\r\n") !=
        std::string::npos);
  // Frames right behind the handshake, in the same packet, are not lost.
  close(fd);
  fd = chat.connect();
  sendAll(fd, upgradeRequest("alice") + clientFrame(0x9, "early"));
  CHECK(readHead(fd).rfind("HTTP/1.1 101", 0) == 0);
  auto pong = readFrame(fd);
  CHECK(pong.opcode == 0xA);
  CHECK(pong.payload == "early");
  close(fd);
}

TEST_CASE("chat: the page, the history and bad requests", "[apps][chat]") {
  ss::test::TempDir dir;
  Chat chat(dir.path().cStr());
  auto page = http(chat, "GET / HTTP/1.1\r\nHost: x\r\nX-Sandstorm-Username: Zo%C3%AB%20%3Cb%3E\r\n\r\n");
  CHECK(page.status == 200);
  CHECK(page.head.find("Content-Type: text/html; charset=utf-8") != std::string::npos);
  CHECK(page.body.find("<h1>Chat room</h1>") != std::string::npos);
  CHECK(page.body.find("aria-live=\"polite\"") != std::string::npos);
  CHECK(page.body.find("<label for=\"text\"") != std::string::npos);
  CHECK(page.body.find("new URL('ws',location.href)") != std::string::npos);
  CHECK(page.body.find("data-me=\"Zo\xc3\xab &lt;b&gt;\"") != std::string::npos);
  CHECK(page.body.find("src=") == std::string::npos);   // nothing loaded from elsewhere
  CHECK(page.body.find("http://") == std::string::npos);
  CHECK(page.body.find("https://") == std::string::npos);
  // Under a base path too, and HEAD.
  CHECK(http(chat, "GET /some/prefix/ HTTP/1.1\r\nHost: x\r\n\r\n").status == 200);
  CHECK(http(chat, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", true).status == 200);
  auto history = http(chat, "GET /history HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(history.status == 200);
  CHECK(history.body == "[]");
  CHECK(http(chat, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").status == 404);
  CHECK(http(chat, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").status == 405);

  const char* bad[] = {
      "GARBAGE\r\n\r\n",
      "GET /\r\n\r\n",
      "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
      "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",                                        // no Host
      "GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\n folded: header\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
      "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      // WebSocket handshakes that are not quite right.
      "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n",
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: short==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      "GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  };
  for (const char* request: bad) {
    CAPTURE(request);
    auto r = http(chat, request);
    CHECK(r.status == 400);
    CHECK(r.head.find("Connection: close") != std::string::npos);
  }
  auto version = http(chat, bad[12]);
  CHECK(version.head.find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);

  // An endless head: 431, not an ever-growing buffer.
  auto big = http(chat, "GET / HTTP/1.1\r\nHost: x\r\nX-Junk: " + std::string(20000, 'j'));
  CHECK(big.status == 431);

  // Keep-alive with pipelining: three requests in one write, three responses in order.
  int fd = chat.connect();
  sendAll(fd, "GET /history HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
              "GET /history HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  for (int expected: {200, 404, 200}) {
    auto head = readHead(fd);
    CHECK(std::stoi(head.substr(9, 3)) == expected);
    auto at = head.find("Content-Length: ");
    REQUIRE(at != std::string::npos);
    readN(fd, std::stoul(head.substr(at + 16)));
  }
  CHECK(readsEof(fd));
  close(fd);
  CHECK(chat.alive());
}

TEST_CASE("chat: a message is broadcast to every client with the sender's name", "[apps][chat]") {
  ss::test::TempDir dir;
  Chat chat(dir.path().cStr());
  int alice = openSocket(chat, "alice");
  int bob = openSocket(chat, "B%C3%B6b%20the%20%22Builder%22");  // percent-encoded UTF-8
  int anon = openSocket(chat);
  sendAll(alice, clientFrame(0x1, "hello <b>\"bob\"</b>\nsecond line"));
  for (int fd: {alice, bob, anon}) {
    auto f = readFrame(fd);
    CHECK(f.opcode == 0x1);
    CAPTURE(f.payload);
    CHECK(f.payload.rfind("{\"name\":\"alice\",\"text\":", 0) == 0);
    CHECK(jsonField(f.payload, "text") == "hello <b>\"bob\"</b>\nsecond line");
    CHECK(f.payload.find(",\"time\":") != std::string::npos);
    CHECK(f.payload.back() == '}');
  }
  sendAll(bob, clientFrame(0x1, "hi \xf0\x9f\x91\x8b"));
  for (int fd: {alice, bob, anon}) {
    auto f = readFrame(fd);
    CHECK(jsonField(f.payload, "name") == "B\xc3\xb6" "b the \"Builder\"");
    CHECK(jsonField(f.payload, "text") == "hi \xf0\x9f\x91\x8b");
  }
  sendAll(anon, clientFrame(0x1, "who am I?"));
  for (int fd: {alice, bob, anon}) CHECK(jsonField(readFrame(fd).payload, "name") == "Anonymous");
  // Whitespace alone is not a message; the next real one arrives next.
  sendAll(alice, clientFrame(0x1, "  \n "));
  sendAll(alice, clientFrame(0x1, "after"));
  CHECK(jsonField(readFrame(bob).payload, "text") == "after");
  for (int fd: {alice, bob, anon}) close(fd);
}

TEST_CASE("chat: a 1 MiB message in fragments, with a ping between, arrives intact",
          "[apps][chat]") {
  ss::test::TempDir dir;
  Chat chat(dir.path().cStr());
  int alice = openSocket(chat, "alice");
  int bob = openSocket(chat, "bob");
  std::string big;
  std::mt19937 rng(42);
  const char alphabet[] = "abcdefghijklmnopqrstuvwxyz \"\\<>\n\t{}0123456789";
  while (big.size() < 1024 * 1024) big += alphabet[rng() % (sizeof(alphabet) - 1)];
  REQUIRE(big.size() == 1024 * 1024);  // exactly the limit
  sendAll(alice, clientFrame(0x1, big.substr(0, 100'000), true, false));
  sendAll(alice, clientFrame(0x9, "still there?"));
  auto pong = readFrame(alice);
  CHECK(pong.opcode == 0xA);
  CHECK(pong.payload == "still there?");
  sendAll(alice, clientFrame(0x0, big.substr(100'000, 500'000), true, false));
  sendAll(alice, clientFrame(0x0, big.substr(600'000), true, true));
  auto f = readFrame(bob);
  CHECK(f.opcode == 0x1);
  CHECK(jsonField(f.payload, "name") == "alice");
  CHECK(jsonField(f.payload, "text") == big);
  CHECK(jsonField(readFrame(alice).payload, "text") == big);
  // The room goes on.
  sendAll(bob, clientFrame(0x1, "got it"));
  CHECK(jsonField(readFrame(alice).payload, "text") == "got it");
  close(alice);
  close(bob);
}

TEST_CASE("chat: messages over 1 MiB are closed with 1009", "[apps][chat]") {
  ss::test::TempDir dir;
  Chat chat(dir.path().cStr());
  int watcher = openSocket(chat, "watcher");
  // One frame one byte over, sent in full.
  int fd = openSocket(chat);
  sendAll(fd, clientFrame(0x1, std::string(1024 * 1024 + 1, 'y')));
  expectClose(fd, 1009);
  close(fd);
  // Fragments that add up to more.
  fd = openSocket(chat);
  sendAll(fd, clientFrame(0x1, std::string(600'000, 'y'), true, false));
  sendAll(fd, clientFrame(0x0, std::string(600'000, 'y'), true, true));
  expectClose(fd, 1009);
  close(fd);
  // A header claiming an absurd length, with no payload behind it.
  fd = openSocket(chat);
  sendAll(fd, std::string("\x81\xff\x7f\xff\xff\xff\xff\xff\xff\xff" "abcd", 14));
  expectClose(fd, 1009);
  close(fd);
  // None of it reached anyone.
  sendAll(watcher, clientFrame(0x1, "only this"));
  CHECK(jsonField(readFrame(watcher).payload, "text") == "only this");
  close(watcher);
}

TEST_CASE("chat: protocol violations are closed with 1002, 1003 or 1007", "[apps][chat]") {
  ss::test::TempDir dir;
  Chat chat(dir.path().cStr());
  struct Case {
    const char* what;
    std::string bytes;
    uint16_t code;
  };
  std::vector<Case> cases = {
      {"unmasked frame", clientFrame(0x1, "no mask", false), 1002},
      {"reserved bit", std::string(1, char(0xC1)) + clientFrame(0x1, "x").substr(1), 1002},
      {"unknown opcode", clientFrame(0x3, "x"), 1002},
      {"continuation first", clientFrame(0x0, "x"), 1002},
      {"text inside text", clientFrame(0x1, "a", true, false) + clientFrame(0x1, "b"), 1002},
      {"fragmented ping", clientFrame(0x9, "p", true, false), 1002},
      {"ping over 125 bytes", clientFrame(0x9, std::string(126, 'p')), 1002},
      {"64-bit length with the top bit", std::string("\x81\xff\x80\0\0\0\0\0\0\x01mask", 14), 1002},
      {"close with a 1-byte payload", clientFrame(0x8, "x"), 1002},
      {"close with code 1005", clientFrame(0x8, std::string("\x03\xed", 2)), 1002},
      {"close with code 999", clientFrame(0x8, std::string("\x03\xe7", 2)), 1002},
      {"binary message", clientFrame(0x2, "\x01\x02"), 1003},
      {"invalid UTF-8", clientFrame(0x1, "bad \xc3\x28"), 1007},
      {"overlong UTF-8", clientFrame(0x1, "\xc0\xaf"), 1007},
      {"UTF-8 surrogate", clientFrame(0x1, "\xed\xa0\x80"), 1007},
      {"close reason not UTF-8", clientFrame(0x8, std::string("\x03\xe8\xff", 3)), 1007},
  };
  for (auto& c: cases) {
    CAPTURE(c.what);
    int fd = openSocket(chat);
    sendAll(fd, c.bytes);
    expectClose(fd, c.code);
    close(fd);
  }
  CHECK(chat.alive());
}

TEST_CASE("chat: ping gets pong and the close handshake echoes the code", "[apps][chat]") {
  ss::test::TempDir dir;
  Chat chat(dir.path().cStr());
  int fd = openSocket(chat);
  sendAll(fd, clientFrame(0x9, ""));
  auto pong = readFrame(fd);
  CHECK(pong.opcode == 0xA);
  CHECK(pong.payload.empty());
  sendAll(fd, clientFrame(0xA, "unsolicited"));  // ignored
  sendAll(fd, clientFrame(0x9, std::string(125, 'p')));
  pong = readFrame(fd);
  CHECK(pong.opcode == 0xA);
  CHECK(pong.payload == std::string(125, 'p'));
  sendAll(fd, clientFrame(0x8, std::string("\x03\xe8", 2) + "bye"));
  expectClose(fd, 1000);
  close(fd);

  fd = openSocket(chat);
  sendAll(fd, clientFrame(0x8, std::string("\x0f\xa1", 2) + "app-defined"));
  expectClose(fd, 4001);
  close(fd);

  fd = openSocket(chat);
  sendAll(fd, clientFrame(0x8, ""));
  auto f = readFrame(fd);
  CHECK(f.opcode == 0x8);
  CHECK(f.payload.empty());
  CHECK(readsEof(fd));
  close(fd);
}

TEST_CASE("chat: the history survives a restart of the process", "[apps][chat]") {
  ss::test::TempDir dir;
  Chat chat(dir.path().cStr());
  int fd = openSocket(chat, "alice");
  // 250 messages, pipelined: the history keeps the last 200.
  std::string burst;
  for (int i = 0; i < 250; i++) burst += clientFrame(0x1, "message " + std::to_string(i));
  sendAll(fd, burst);
  for (int i = 0; i < 250; i++) {
    CHECK(jsonField(readFrame(fd).payload, "text") == "message " + std::to_string(i));
  }
  close(fd);

  chat.stop();  // SIGKILL: no chance to tidy up
  // A crash mid-write would leave a torn last line; it must not spoil what follows.
  {
    int log = open((std::string(dir.path().cStr()) + "/chat.log").c_str(), O_WRONLY | O_APPEND);
    REQUIRE(log >= 0);
    const char torn[] = "{\"name\":\"mallory\",\"text\":\"half";
    REQUIRE(write(log, torn, sizeof(torn) - 1) == ssize_t(sizeof(torn) - 1));
    close(log);
  }
  chat.start();
  auto history = http(chat, "GET /history HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(history.status == 200);
  CHECK(history.head.find("application/json") != std::string::npos);
  REQUIRE(history.body.front() == '[');
  REQUIRE(history.body.back() == ']');
  size_t objects = 0;
  for (size_t at = 0; (at = history.body.find("{\"name\":", at)) != std::string::npos; at++) objects++;
  CHECK(objects == 200);
  CHECK(history.body.find("\"message 49\"") == std::string::npos);
  CHECK(history.body.find("\"message 50\"") < history.body.find("\"message 249\""));
  CHECK(history.body.find("mallory") == std::string::npos);

  fd = openSocket(chat, "bob");
  sendAll(fd, clientFrame(0x1, "after the restart"));
  CHECK(jsonField(readFrame(fd).payload, "text") == "after the restart");
  close(fd);
  chat.stop();
  chat.start();
  history = http(chat, "GET /history HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(history.body.find("\"message 51\"") != std::string::npos);
  CHECK(history.body.find("\"message 50\"") == std::string::npos);
  CHECK(history.body.find("{\"name\":\"bob\",\"text\":\"after the restart\"") != std::string::npos);
}

TEST_CASE("chat: slow, half-closed and hostile clients do not hurt the room", "[apps][chat]") {
  ss::test::TempDir dir;
  Chat chat(dir.path().cStr());
  // A client that never reads, with a small receive buffer.
  int slow = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int small = 4096;
  setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  close(slow);  // (Chat::connect makes its own; set the option on an upgraded one instead)
  slow = openSocket(chat, "slow");
  setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  int sender = openSocket(chat, "sender");
  int reader = openSocket(chat, "reader");
  std::string mib(1024 * 1024, 'z');
  auto start = nowMs();
  for (int i = 0; i < 24; i++) {
    sendAll(sender, clientFrame(0x1, mib));
    CHECK(jsonField(readFrame(sender).payload, "text").size() == mib.size());
    CHECK(jsonField(readFrame(reader).payload, "text").size() == mib.size());
  }
  CHECK(nowMs() - start < 20'000);
  // The slow client was dropped: it gets what was in flight, then the end, not all 24 MiB.
  size_t got = 0;
  for (;;) {
    char buf[65536];
    ssize_t n = read(slow, buf, sizeof(buf));
    if (n <= 0) {
      CHECK((n == 0 || errno == ECONNRESET));
      break;
    }
    got += n;
  }
  CHECK(got < 24 * mib.size());
  close(slow);

  // Half-closed: a request then EOF still gets its answer; a partial one just ends.
  int fd = chat.connect();
  sendAll(fd, "GET /history HTTP/1.1\r\nHost: x\r\n\r\n");
  shutdown(fd, SHUT_WR);
  CHECK(readHead(fd).rfind("HTTP/1.1 200", 0) == 0);
  close(fd);
  fd = chat.connect();
  sendAll(fd, "GET /hist");
  shutdown(fd, SHUT_WR);
  CHECK(readsEof(fd));
  close(fd);
  fd = openSocket(chat);
  sendAll(fd, clientFrame(0x1, "never finished").substr(0, 5));
  shutdown(fd, SHUT_WR);
  CHECK(readsEof(fd));
  close(fd);

  // Random bytes, before and after a handshake, from many connections at once.
  std::mt19937 rng(7);
  std::vector<int> fds;
  for (int i = 0; i < 40; i++) {
    int c = i % 2 ? openSocket(chat) : chat.connect();
    std::string junk(rng() % 5000 + 1, '\0');
    for (auto& ch: junk) ch = char(rng());
    send(c, junk.data(), junk.size(), MSG_NOSIGNAL);
    fds.push_back(c);
  }
  for (int c: fds) close(c);  // some with unread replies: resets
  CHECK(chat.alive());
  sendAll(sender, clientFrame(0x1, "still here"));
  CHECK(jsonField(readFrame(reader).payload, "text") == "still here");
  CHECK(http(chat, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200);
  close(sender);
  close(reader);
}
