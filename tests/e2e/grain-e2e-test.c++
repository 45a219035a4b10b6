// The grain path end to end: browser-shaped HTTP -> the real daemon (`sandstorm dev`) -> Cap'n
// Proto on the grain's fd 3 -> our bridge in a real sandbox -> the test app, and back.
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/clock.h"
#include "tests/e2e/e2e-support.h"
#include "tests/test-support.h"

namespace ss::e2e {
namespace {

constexpr const char* CLOSE = "Host: 127.0.0.1\r\nConnection: close\r\n";

uint8_t patternByte(uint64_t i) { return uint8_t((i * 131) ^ (i >> 9)); }

void fillPattern(uint64_t offset, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = patternByte(offset + i);
}

std::string hex(const unsigned char* digest, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; i++) {
    out += digits[digest[i] >> 4];
    out += digits[digest[i] & 15];
  }
  return out;
}

std::string patternSha256(uint64_t size) {
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::vector<uint8_t> block(1 << 20);
  for (uint64_t offset = 0; offset < size; offset += block.size()) {
    size_t n = std::min<uint64_t>(block.size(), size - offset);
    fillPattern(offset, block.data(), n);
    crypto_hash_sha256_update(&state, block.data(), n);
  }
  unsigned char digest[32];
  crypto_hash_sha256_final(&state, digest);
  return hex(digest, 32);
}

// An unpacked test package and a data directory, both reachable by the grain's uid.
struct Fixture {
  ss::test::TempDir temp;
  std::string appDir;
  std::string dataDir;

  explicit Fixture(const char* spk) {
    REQUIRE(chmod(temp.path().cStr(), 0711) == 0);
    appDir = temp.file("app").cStr();
    dataDir = temp.file("data").cStr();
    REQUIRE(run({SANDSTORM_BINARY, "spk", "unpack", spk, appDir}) == 0);
  }
};

bool canRunGrains() {
  if (geteuid() != 0) {
    ss::test::markSkipped("grains need root (sandbox uid mapping and cgroups); CI runs as root");
    return false;
  }
  return true;
}

std::string bodyOf(const std::string& response) {
  auto pos = response.find("\r\n\r\n");
  return pos == std::string::npos ? std::string() : response.substr(pos + 4);
}

// --- WebSocket client frames (RFC 6455 §5) ---

void sendFrame(int fd, uint8_t opcode, const std::string& payload, bool masked = true) {
  std::string frame(1, char(0x80 | opcode));
  uint8_t maskBit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    frame += char(maskBit | payload.size());
  } else if (payload.size() < 65536) {
    frame += char(maskBit | 126);
    frame += char(payload.size() >> 8);
    frame += char(payload.size() & 0xff);
  } else {
    frame += char(maskBit | 127);
    for (int i = 7; i >= 0; --i) frame += char((uint64_t(payload.size()) >> (8 * i)) & 0xff);
  }
  std::string body = payload;
  if (masked) {
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    frame.append(mask, 4);
    for (size_t i = 0; i < body.size(); i++) body[i] ^= mask[i % 4];
  }
  REQUIRE(writeAll(fd, frame.data(), frame.size()));
  REQUIRE(writeAll(fd, body.data(), body.size()));
}

struct Frame {
  uint8_t opcode = 0;
  std::string payload;
};

Frame readFrame(int fd) {
  uint8_t h[2];
  REQUIRE(readExactly(fd, h, 2));
  uint64_t length = h[1] & 0x7f;
  CHECK((h[1] & 0x80) == 0);  // server frames are never masked
  if (length == 126) {
    uint8_t e[2];
    REQUIRE(readExactly(fd, e, 2));
    length = (uint64_t(e[0]) << 8) | e[1];
  } else if (length == 127) {
    uint8_t e[8];
    REQUIRE(readExactly(fd, e, 8));
    length = 0;
    for (int i = 0; i < 8; i++) length = (length << 8) | e[i];
  }
  Frame frame;
  frame.opcode = h[0] & 0x0f;
  frame.payload.resize(length);
  REQUIRE(readExactly(fd, frame.payload.data(), length));
  return frame;
}

}  // namespace

TEST_CASE("grain path: methods, headers, bodies and status codes are preserved", "[grain]") {
  if (!canRunGrains()) return;
  Fixture f(GRAIN_TEST_SPK);
  DevServer dev(f.appDir, f.dataDir, 60);

  for (std::string method: {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    CAPTURE(method);
    bool hasBody = method == "POST" || method == "PUT" || method == "PATCH";
    std::string body = hasBody ? "payload for " + method : "";
    std::string request = method + " /echo/some/path?q=1&r=%20 HTTP/1.1\r\n" + CLOSE +
                          "X-Custom-Header: custom value\r\nAccept-Language: fr\r\n";
    if (hasBody) {
      request += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\n";
    }
    auto response = dev.request(request + "\r\n" + body);
    CAPTURE(response);
    REQUIRE(response.rfind("HTTP/1.1 200", 0) == 0);
    auto echoed = bodyOf(response);
    CHECK(echoed.find("method: " + method + "\n") != std::string::npos);
    CHECK(echoed.find("target: /echo/some/path?q=1&r=%20\n") != std::string::npos);
    CHECK(echoed.find("x-custom-header: custom value") != std::string::npos);
    if (hasBody) CHECK(echoed.find("\n\n" + body) != std::string::npos);
  }

  auto redirect = dev.request(std::string("GET /status/302 HTTP/1.1\r\n") + CLOSE + "\r\n");
  CAPTURE(redirect);
  CHECK(redirect.rfind("HTTP/1.1 302", 0) == 0);
  CHECK(redirect.find("\r\nLocation: ") != std::string::npos);
  auto unavailable = dev.request(std::string("GET /status/503 HTTP/1.1\r\n") + CLOSE + "\r\n");
  CHECK(unavailable.rfind("HTTP/1.1 503", 0) == 0);
  CHECK(unavailable.find("Retry-After:") != std::string::npos);
  auto missing = dev.request(std::string("GET /status/404 HTTP/1.1\r\n") + CLOSE + "\r\n");
  CHECK(missing.rfind("HTTP/1.1 404", 0) == 0);

  // The bridge may splice; the app it starts may not (sandbox/seccomp.h, FilterFor).
  auto splice = dev.request(std::string("GET /splice-check HTTP/1.1\r\n") + CLOSE + "\r\n");
  CHECK(bodyOf(splice) == "ENOSYS");

  // A platform header a client tries to smuggle in never reaches the app as sent.
  auto spoof = dev.request(std::string("GET /echo HTTP/1.1\r\n") + CLOSE +
                           "X-Sandstorm-Permissions: admin\r\n\r\n");
  CHECK(bodyOf(spoof).find("x-sandstorm-permissions: admin") == std::string::npos);
}

TEST_CASE("grain path: 200 MiB upload and download stream with flat daemon memory",
          "[grain]") {
  if (!canRunGrains()) return;
  Fixture f(GRAIN_TEST_SPK);
  DevServer dev(f.appDir, f.dataDir, 60);
  constexpr uint64_t SIZE = 200ull << 20;
  auto expected = patternSha256(SIZE);

  // Warm the grain so its start does not count as the daemon's memory.
  REQUIRE(dev.request(std::string("GET /echo HTTP/1.1\r\n") + CLOSE + "\r\n")
              .rfind("HTTP/1.1 200", 0) == 0);
  size_t before = rssKiB(dev.pid);
  size_t peak = before;

  {
    int fd = dev.connect();
    std::string head = std::string("POST /upload HTTP/1.1\r\n") + CLOSE +
                       "Content-Type: application/octet-stream\r\nContent-Length: " +
                       std::to_string(SIZE) + "\r\n\r\n";
    REQUIRE(writeAll(fd, head.data(), head.size()));
    std::vector<uint8_t> block(1 << 20);
    for (uint64_t offset = 0; offset < SIZE; offset += block.size()) {
      fillPattern(offset, block.data(), block.size());
      REQUIRE(writeAll(fd, block.data(), block.size()));
      if ((offset >> 20) % 16 == 0) peak = std::max(peak, rssKiB(dev.pid));
    }
    std::string reply;
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) reply.append(buffer, n);
    close(fd);
    CAPTURE(reply);
    REQUIRE(reply.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(bodyOf(reply).find(expected + " " + std::to_string(SIZE)) != std::string::npos);
  }
  {
    int fd = dev.connect();
    std::string request = "GET /download?size=" + std::to_string(SIZE) + " HTTP/1.1\r\n" +
                          CLOSE + "\r\n";
    REQUIRE(writeAll(fd, request.data(), request.size()));
    auto head = readHead(fd);
    CAPTURE(head);
    REQUIRE(head.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(head.find("Content-Length: " + std::to_string(SIZE)) != std::string::npos);
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    uint64_t total = 0;
    std::vector<uint8_t> buffer(1 << 20);
    ssize_t n;
    while ((n = read(fd, buffer.data(), buffer.size())) > 0) {
      crypto_hash_sha256_update(&state, buffer.data(), n);
      total += n;
      if ((total >> 20) % 16 == 0) peak = std::max(peak, rssKiB(dev.pid));
    }
    close(fd);
    unsigned char digest[32];
    crypto_hash_sha256_final(&state, digest);
    CHECK(total == SIZE);
    CHECK(hex(digest, 32) == expected);
  }
  // Bodies are spliced through pipes: the daemon never holds more than a few buffers.
  CAPTURE(before, peak);
  CHECK(peak < before + 32 * 1024);
}

TEST_CASE("grain path: server-sent events arrive as they are sent", "[grain]") {
  if (!canRunGrains()) return;
  Fixture f(GRAIN_TEST_SPK);
  DevServer dev(f.appDir, f.dataDir, 60);
  int fd = dev.connect();
  std::string request = std::string("GET /sse HTTP/1.1\r\n") + CLOSE +
                        "Accept: text/event-stream\r\n\r\n";
  uint64_t start = monotonicNowMs();
  REQUIRE(writeAll(fd, request.data(), request.size()));
  std::string all;
  uint64_t firstEventAt = 0;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
    all.append(buffer, n);
    if (firstEventAt == 0 && all.find("data:") != std::string::npos) {
      firstEventAt = monotonicNowMs();
    }
  }
  uint64_t end = monotonicNowMs();
  close(fd);
  CAPTURE(all);
  REQUIRE(all.rfind("HTTP/1.1 200", 0) == 0);
  size_t events = 0;
  for (size_t pos = 0; (pos = all.find("data:", pos)) != std::string::npos; pos++) events++;
  CHECK(events == 20);
  // The app spends ~1 s sending 20 events 50 ms apart: the first must reach us long before the
  // stream ends (nothing buffers the whole response).
  CAPTURE(start, firstEventAt, end);
  CHECK(firstEventAt > 0);
  CHECK(end - firstEventAt >= 500);
}

TEST_CASE("grain path: WebSocket echo with 1 MiB messages and close codes", "[grain]") {
  if (!canRunGrains()) return;
  Fixture f(GRAIN_TEST_SPK);
  DevServer dev(f.appDir, f.dataDir, 60);

  // Wrong version: refused before the grain is involved.
  auto refused = dev.request(std::string("GET /ws HTTP/1.1\r\n") + ""
                             "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 8\r\n\r\n");
  CHECK(refused.rfind("HTTP/1.1 426", 0) == 0);
  auto badKey = dev.request("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Key: short\r\n"
                            "Sec-WebSocket-Version: 13\r\n\r\n");
  CHECK(badKey.rfind("HTTP/1.1 400", 0) == 0);

  int fd = dev.connect();
  std::string handshake =
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Protocol: chat, superchat\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
  REQUIRE(writeAll(fd, handshake.data(), handshake.size()));
  auto head = readHead(fd);
  CAPTURE(head);
  REQUIRE(head.rfind("HTTP/1.1 101", 0) == 0);
  CHECK(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
  CHECK(head.find("Sec-WebSocket-Protocol: chat\r\n") != std::string::npos);
  // Frames are relayed unparsed, so no extension may be agreed.
  CHECK(head.find("Sec-WebSocket-Extensions") == std::string::npos);

  sendFrame(fd, 0x1, "hello, grain");
  auto echo = readFrame(fd);
  CHECK(echo.opcode == 0x1);
  CHECK(echo.payload == "hello, grain");

  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); i++) big[i] = char(patternByte(i));
  sendFrame(fd, 0x2, big);
  auto bigEcho = readFrame(fd);
  CHECK(bigEcho.opcode == 0x2);
  CHECK(bigEcho.payload == big);

  std::string closePayload = "\x0f\xa1goodbye";  // code 4001
  sendFrame(fd, 0x8, closePayload);
  auto closing = readFrame(fd);
  CHECK(closing.opcode == 0x8);
  REQUIRE(closing.payload.size() >= 2);
  CHECK(((uint8_t(closing.payload[0]) << 8) | uint8_t(closing.payload[1])) == 4001);
  // Then the connection ends.
  char c;
  CHECK(read(fd, &c, 1) == 0);
  close(fd);
}

TEST_CASE("grain path: an app crash mid-request is a 502, and the next request restarts it",
          "[grain]") {
  if (!canRunGrains()) return;
  Fixture f(GRAIN_TEST_SPK);
  DevServer dev(f.appDir, f.dataDir, 60);
  REQUIRE(dev.request(std::string("GET /echo HTTP/1.1\r\n") + CLOSE + "\r\n")
              .rfind("HTTP/1.1 200", 0) == 0);
  auto crashed = dev.request(std::string("GET /crash HTTP/1.1\r\n") + CLOSE + "\r\n");
  CAPTURE(crashed);
  CHECK(crashed.rfind("HTTP/1.1 502", 0) == 0);

  // The grain restarts on demand (after its crash back-off, which is bounded).
  std::string again;
  auto deadline = monotonicNowMs() + 20000;
  do {
    again = dev.request(std::string("GET /echo HTTP/1.1\r\n") + CLOSE + "\r\n");
    if (again.rfind("HTTP/1.1 200", 0) == 0) break;
    usleep(200000);
  } while (monotonicNowMs() < deadline);
  CAPTURE(again);
  CHECK(again.rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("grain path: an app that never opens its port fails clearly within the bound",
          "[grain]") {
  if (!canRunGrains()) return;
  Fixture f(GRAIN_NOPORT_SPK);
  DevServer dev(f.appDir, f.dataDir, 60);
  uint64_t start = monotonicNowMs();
  auto response = dev.request(std::string("GET / HTTP/1.1\r\n") + CLOSE + "\r\n", 30);
  uint64_t elapsed = monotonicNowMs() - start;
  CAPTURE(response, elapsed);
  CHECK((response.rfind("HTTP/1.1 502", 0) == 0 || response.rfind("HTTP/1.1 503", 0) == 0));
  CHECK(response.find("8000") != std::string::npos);  // the message names the port
  CHECK(elapsed < 15000);  // the package bounds the wait at 1.5 s
}

}  // namespace ss::e2e
