// The chat app run directly (no sandbox), over real sockets: handshake, broadcast, 64 KiB
// messages, protocol violations closed with the right codes, ping, and history that survives a
// restart of the process.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "base/clock.h"
#include "tests/test-support.h"

namespace {

struct Chat {
  Chat(int port, const std::string& dir): port(port) {
    pid = fork();
    if (pid == 0) {
      setenv("CHAT_DIR", dir.c_str(), 1);
      std::string p = std::to_string(port);
      execl(CHAT_BINARY, "chat", p.c_str(), nullptr);
      _exit(127);
    }
  }
  ~Chat() {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  int connect() const {
    auto deadline = ss::monotonicNowMs() + 10000;
    for (;;) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
        timeval tv{10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return fd;
      }
      close(fd);
      REQUIRE(ss::monotonicNowMs() < deadline);
      usleep(20000);
    }
  }
  int port;
  pid_t pid;
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
  while (out.size() < n) {
    char buf[65536];
    ssize_t r = read(fd, buf, std::min(sizeof(buf), n - out.size()));
    REQUIRE(r > 0);
    out.append(buf, r);
  }
  return out;
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

int openSocket(const Chat& chat, const char* user) {
  int fd = chat.connect();
  sendAll(fd, std::string("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                          "X-Sandstorm-Username: ") + user + "\r\n\r\n");
  auto head = readHead(fd);
  CAPTURE(head);
  REQUIRE(head.rfind("HTTP/1.1 101", 0) == 0);
  CHECK(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos);
  return fd;
}

std::string clientFrame(uint8_t opcode, const std::string& payload, bool masked = true,
                        bool fin = true) {
  std::string f(1, char((fin ? 0x80 : 0) | opcode));
  uint8_t m = masked ? 0x80 : 0;
  if (payload.size() < 126) f += char(m | payload.size());
  else if (payload.size() < 65536) { f += char(m | 126); f += char(payload.size() >> 8); f += char(payload.size() & 0xff); }
  else { f += char(m | 127); for (int i = 7; i >= 0; i--) f += char((uint64_t(payload.size()) >> (8 * i)) & 0xff); }
  std::string body = payload;
  if (masked) {
    const char key[4] = {0x11, 0x22, 0x33, 0x44};
    f.append(key, 4);
    for (size_t i = 0; i < body.size(); i++) body[i] ^= key[i % 4];
  }
  return f + body;
}

std::pair<int, std::string> serverFrame(int fd) {
  auto h = readN(fd, 2);
  uint64_t len = uint8_t(h[1]) & 0x7f;
  if (len == 126) { auto e = readN(fd, 2); len = uint8_t(e[0]) << 8 | uint8_t(e[1]); }
  else if (len == 127) { auto e = readN(fd, 8); len = 0; for (char c: e) len = len << 8 | uint8_t(c); }
  return {uint8_t(h[0]) & 0x0f, readN(fd, len)};
}

uint16_t closeCode(const std::string& payload) {
  REQUIRE(payload.size() >= 2);
  return uint16_t(uint8_t(payload[0]) << 8 | uint8_t(payload[1]));
}

}  // namespace

TEST_CASE("demo apps: the chat app broadcasts, enforces RFC 6455 and keeps its history",
          "[apps]") {
  ss::test::TempDir dir;
  int port = 19000 + getpid() % 1000;
  {
    Chat chat(port, dir.path().cStr());
    int alice = openSocket(chat, "alice");
    int bob = openSocket(chat, "B%C3%B6b");  // percent-encoded UTF-8, as Sandstorm sends it
    sendAll(alice, clientFrame(0x1, "hello <b>bob</b>"));
    for (int fd: {alice, bob}) {
      auto [op, text] = serverFrame(fd);
      CHECK(op == 0x1);
      CHECK(text.find("\"name\":\"alice\"") != std::string::npos);
      CHECK(text.find("hello \\u003cb>bob\\u003c/b>") != std::string::npos);
    }
    // Fragmented message from bob, 64 KiB in all, with a ping in between.
    std::string big(65536 - 10, 'x');
    sendAll(bob, clientFrame(0x1, big.substr(0, 30000), true, false));
    sendAll(bob, clientFrame(0x9, "are you there"));
    auto pong = serverFrame(bob);
    CHECK(pong.first == 0xA);
    CHECK(pong.second == "are you there");
    sendAll(bob, clientFrame(0x0, big.substr(30000), true, true));
    auto [op, text] = serverFrame(alice);
    CHECK(op == 0x1);
    CHECK(text.find("\"name\":\"B\xc3\xb6" "b\"") != std::string::npos);
    CHECK(text.find(big) != std::string::npos);
    (void)serverFrame(bob);  // bob's own copy

    // Violations: an unmasked frame -> 1002; a message over 64 KiB -> 1009.
    sendAll(alice, clientFrame(0x1, "no mask", false));
    auto closeA = serverFrame(alice);
    CHECK(closeA.first == 0x8);
    CHECK(closeCode(closeA.second) == 1002);
    sendAll(bob, clientFrame(0x2, std::string(70000, 'y')));
    auto closeB = serverFrame(bob);
    CHECK(closeB.first == 0x8);
    CHECK(closeCode(closeB.second) == 1009);
    close(alice);
    close(bob);

    // A normal close echoes the code.
    int carol = openSocket(chat, "carol");
    sendAll(carol, clientFrame(0x8, std::string("\x03\xe8", 2)));
    auto bye = serverFrame(carol);
    CHECK(bye.first == 0x8);
    CHECK(closeCode(bye.second) == 1000);
    close(carol);

    // Bad requests: 400, and the server keeps running.
    int bad = chat.connect();
    sendAll(bad, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\n\r\n");
    CHECK(readHead(bad).rfind("HTTP/1.1 400", 0) == 0);
    close(bad);
  }
  // Restarted (the grain was stopped): the history is still there.
  Chat again(port, dir.path().cStr());
  int fd = again.connect();
  sendAll(fd, "GET /history HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = readHead(fd);
  auto lengthAt = head.find("Content-Length: ");
  REQUIRE(lengthAt != std::string::npos);
  auto body = readN(fd, std::stoul(head.substr(lengthAt + 16)));
  CHECK(body.find("hello \\u003cb>bob") != std::string::npos);
  CHECK(body.find("\"name\":\"B\xc3\xb6" "b\"") != std::string::npos);
  close(fd);
}
