// bridge-test-app <port> [--listen-delay-ms N]
//
// A deliberately plain HTTP/1.1 server (blocking sockets, a thread per connection) that plays
// "the app" behind the bridge in bridge-test.c++. Routes:
//   /echo...            200, body = method, target, every header, the request body
//   /upload             200, body = "<sha256 hex> <length>" of the request body (streamed)
//   /sink               200, body = the request body's length (discarded as it arrives)
//   /download?size=N    Content-Length N of the test pattern (default 200 MiB)
//   /chunked?size=N     the test pattern, chunked in irregular chunk sizes
//   /close?size=N       the test pattern, close-delimited (no length, Connection: close)
//   /sse                20 server-sent events, one every 50 ms (chunked)
//   /status/<code>      that status with custom headers (302: Location, 503: Retry-After)
//   /hop                hop-by-hop headers the bridge must strip
//   /big-head           a 70 KiB response head
//   /ws                 WebSocket echo (every frame sent back unmasked; close echoed)
//   /crash              _exit(42) without answering
//   /splice-check       "ENOSYS" if the app's seccomp filter denies splice()
//   /orphan             double-forks a grandchild that exits after 300 ms; body = its pid
//   /hang               never answers (holds the connection until the client goes away)
//   /idle-close         200 "ok" (keep-alive), then closes the idle connection after 50 ms
//   /idle-junk          200 "ok" (keep-alive), then sends unsolicited bytes after 50 ms
//   /flood?mb=N         writes N MiB (default 64) to stderr, then 200 "flooded <bytes>"
//   /fill[?keep=1]      writes /var/fill until the disk is full; 200 "<errno name> <bytes>";
//                       the file is removed again unless keep=1
//   /hog?mb=N           allocates and touches N MiB (default 2048), then 200 (if it survives)
//   /forkbomb           forks until fork fails; 200 "<errno name> <children>" (children exit)
// Every response carries X-Conn: <connection number>, so tests can see keep-alive reuse.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "http/websocket-accept.h"

namespace {

std::atomic<int> connectionCounter{0};

uint8_t patternByte(uint64_t i) { return uint8_t((i * 131) ^ (i >> 9)); }

void fillPattern(uint64_t offset, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = patternByte(offset + i);
}

class Conn {
public:
  explicit Conn(int fd): fd(fd) {}
  ~Conn() { close(fd); }

  bool fill() {
    char tmp[65536];
    ssize_t n = ::read(fd, tmp, sizeof(tmp));
    if (n <= 0) return false;
    buffer.append(tmp, n);
    return true;
  }
  bool readLine(std::string& line) {
    for (;;) {
      size_t pos = buffer.find("\r\n");
      if (pos != std::string::npos) {
        line = buffer.substr(0, pos);
        buffer.erase(0, pos + 2);
        return true;
      }
      if (!fill()) return false;
    }
  }
  bool readExact(size_t n, std::string& out) {
    while (buffer.size() < n) {
      if (!fill()) return false;
    }
    out = buffer.substr(0, n);
    buffer.erase(0, n);
    return true;
  }
  // Streams `n` bytes to `sink` without keeping them.
  template <typename Sink>
  bool stream(uint64_t n, Sink&& sink) {
    while (n > 0) {
      if (buffer.empty() && !fill()) return false;
      size_t take = std::min<uint64_t>(n, buffer.size());
      sink(buffer.data(), take);
      buffer.erase(0, take);
      n -= take;
    }
    return true;
  }
  void write(const std::string& s) { writeRaw(s.data(), s.size()); }
  void writeRaw(const void* data, size_t n) {
    auto p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0) throw std::runtime_error("write failed");
      p += w;
      n -= w;
    }
  }

  int fd;
  std::string buffer;
};

struct Request {
  std::string method, target, version;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string find(const char* name) const {
    for (auto& h : headers) {
      if (strcasecmp(h.first.c_str(), name) == 0) return h.second;
    }
    return "";
  }
};

uint64_t queryNumber(const std::string& target, const char* key, uint64_t fallback) {
  auto pos = target.find(std::string(key) + "=");
  if (pos == std::string::npos) return fallback;
  return strtoull(target.c_str() + pos + strlen(key) + 1, nullptr, 10);
}

// Reads the body (Content-Length or chunked), passing it to `sink`.
template <typename Sink>
bool readBody(Conn& c, const Request& r, Sink&& sink) {
  if (strcasecmp(r.find("transfer-encoding").c_str(), "chunked") == 0) {
    for (;;) {
      std::string line;
      if (!c.readLine(line)) return false;
      uint64_t size = strtoull(line.c_str(), nullptr, 16);
      if (size == 0) {
        std::string trailer;
        do {
          if (!c.readLine(trailer)) return false;
        } while (!trailer.empty());
        return true;
      }
      if (!c.stream(size, sink)) return false;
      std::string crlf;
      if (!c.readLine(crlf)) return false;
    }
  }
  auto cl = r.find("content-length");
  return c.stream(cl.empty() ? 0 : strtoull(cl.c_str(), nullptr, 10), sink);
}

std::string head(int status, const char* reason, const std::string& extra, int conn) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nX-Conn: " +
         std::to_string(conn) + "\r\n" + extra;
}

void sendPattern(Conn& c, uint64_t size, bool chunked) {
  std::vector<uint8_t> block(1 << 20);
  uint64_t offset = 0;
  size_t irregular[] = {1, 7, 1000, 4096, 65536, 100000, 1 << 20};
  size_t k = 0;
  while (offset < size) {
    size_t n = std::min<uint64_t>(size - offset, chunked ? irregular[k++ % 7] : block.size());
    fillPattern(offset, block.data(), n);
    if (chunked) {
      char line[32];
      snprintf(line, sizeof(line), "%zx\r\n", n);
      c.write(line);
    }
    c.writeRaw(block.data(), n);
    if (chunked) c.write("\r\n");
    offset += n;
  }
  if (chunked) c.write("0\r\n\r\n");
}

void webSocketEcho(Conn& c, const Request& r, int id) {
  auto key = r.find("sec-websocket-key");
  std::string protocol = r.find("sec-websocket-protocol");
  if (auto comma = protocol.find(','); comma != std::string::npos) protocol.resize(comma);
  std::string extra = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                      std::string(ss::http::webSocketAccept(key.c_str()).cStr()) + "\r\n";
  if (!protocol.empty()) extra += "Sec-WebSocket-Protocol: " + protocol + "\r\n";
  c.write(head(101, "Switching Protocols", extra + "\r\n", id));
  for (;;) {
    std::string h;
    if (!c.readExact(2, h)) return;
    uint8_t b0 = h[0], b1 = h[1];
    uint64_t len = b1 & 0x7f;
    std::string ext;
    if (len == 126) {
      if (!c.readExact(2, ext)) return;
      len = (uint8_t(ext[0]) << 8) | uint8_t(ext[1]);
    } else if (len == 127) {
      if (!c.readExact(8, ext)) return;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | uint8_t(ext[i]);
    }
    std::string mask, payload;
    if ((b1 & 0x80) && !c.readExact(4, mask)) return;
    if (!c.readExact(len, payload)) return;
    if (b1 & 0x80) {
      for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= mask[i % 4];
    }
    std::string frame(1, char(b0));
    if (len < 126) {
      frame += char(len);
    } else if (len < 65536) {
      frame += char(126);
      frame += char(len >> 8);
      frame += char(len & 0xff);
    } else {
      frame += char(127);
      for (int i = 7; i >= 0; --i) frame += char((len >> (8 * i)) & 0xff);
    }
    c.write(frame + payload);
    if ((b0 & 0x0f) == 8) {
      shutdown(c.fd, SHUT_WR);
      return;
    }
  }
}

// One request; false = close the connection.
bool serveOne(Conn& c, int id) {
  std::string line;
  if (!c.readLine(line)) return false;
  Request r;
  {
    auto s1 = line.find(' '), s2 = line.rfind(' ');
    if (s1 == std::string::npos || s2 == s1) return false;
    r.method = line.substr(0, s1);
    r.target = line.substr(s1 + 1, s2 - s1 - 1);
    r.version = line.substr(s2 + 1);
  }
  for (;;) {
    if (!c.readLine(line)) return false;
    if (line.empty()) break;
    auto colon = line.find(':');
    auto value = line.substr(colon + 1);
    while (!value.empty() && value[0] == ' ') value.erase(0, 1);
    r.headers.emplace_back(line.substr(0, colon), value);
  }
  const std::string& t = r.target;
  auto starts = [&t](const char* p) { return t.compare(0, strlen(p), p) == 0; };

  if (starts("/splice-check")) {
    // What the sandbox lets the app do: ENOSYS means filtered, EBADF means allowed.
    long rc = syscall(SYS_splice, -1, nullptr, -1, nullptr, 1, 0);
    std::string out = rc == 0 ? "allowed" : (errno == ENOSYS ? "ENOSYS" : "EBADF-or-other");
    c.write(head(200, "OK", "Content-Length: " + std::to_string(out.size()) + "\r\n\r\n", id));
    c.write(out);
    return true;
  }
  if (starts("/echo")) {
    std::string body;
    if (!readBody(c, r, [&body](const char* p, size_t n) { body.append(p, n); })) return false;
    std::string out = "method: " + r.method + "\ntarget: " + r.target + "\n";
    for (auto& h : r.headers) out += "header: " + h.first + ": " + h.second + "\n";
    out += "body-length: " + std::to_string(body.size()) + "\n\n" + body;
    auto extra = "Content-Type: text/plain\r\nContent-Length: " + std::to_string(out.size()) +
                 "\r\n\r\n";
    c.write(head(200, "OK", extra, id));
    if (r.method != "HEAD") c.write(out);
    return true;
  }
  if (starts("/sink")) {
    // Discards the body (benchmarks: the app's own cost should be close to nothing).
    uint64_t total = 0;
    if (!readBody(c, r, [&](const char*, size_t n) { total += n; })) return false;
    std::string out = std::to_string(total);
    c.write(head(200, "OK", "Content-Length: " + std::to_string(out.size()) + "\r\n\r\n", id) +
            out);
    return true;
  }
  if (starts("/upload")) {
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    uint64_t total = 0;
    bool ok = readBody(c, r, [&](const char* p, size_t n) {
      crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(p), n);
      total += n;
    });
    if (!ok) return false;
    unsigned char digest[32];
    crypto_hash_sha256_final(&state, digest);
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), digest, 32);
    std::string out = std::string(hex) + " " + std::to_string(total);
    c.write(head(200, "OK", "Content-Length: " + std::to_string(out.size()) + "\r\n\r\n", id) +
            out);
    return true;
  }
  // The remaining routes ignore request bodies; drain any.
  if (!readBody(c, r, [](const char*, size_t) {})) return false;
  if (starts("/download")) {
    uint64_t size = queryNumber(t, "size", 200ull << 20);
    c.write(head(200, "OK", "Content-Type: application/octet-stream\r\nContent-Length: " +
                                std::to_string(size) + "\r\n\r\n", id));
    if (r.method != "HEAD") sendPattern(c, size, false);
    return true;
  }
  if (starts("/chunked")) {
    c.write(head(200, "OK", "Transfer-Encoding: chunked\r\n\r\n", id));
    sendPattern(c, queryNumber(t, "size", 5 << 20), true);
    return true;
  }
  if (starts("/idle-close") || starts("/idle-junk")) {
    // What a pooled connection may do while the bridge is not looking: be closed by the app's
    // idle timeout, or carry bytes nobody asked for.
    c.write(head(200, "OK", "Content-Length: 2\r\n\r\n", id) + "ok");
    usleep(50000);
    if (starts("/idle-junk")) {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\njunk");
      std::string ignored;
      while (c.readExact(1, ignored)) ignored.clear();  // until the bridge closes it
    }
    return false;
  }
  if (starts("/close")) {
    c.write(head(200, "OK", "Connection: close\r\n\r\n", id));
    sendPattern(c, queryNumber(t, "size", 3 << 20), false);
    return false;
  }
  if (starts("/sse")) {
    c.write(head(200, "OK", "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n", id));
    for (int i = 0; i < 20; ++i) {
      std::string event = "data: event " + std::to_string(i) + "\n\n";
      char size[16];
      snprintf(size, sizeof(size), "%zx\r\n", event.size());
      c.write(size + event + "\r\n");
      usleep(50000);
    }
    c.write("0\r\n\r\n");
    return true;
  }
  if (starts("/status/")) {
    int code = atoi(t.c_str() + 8);
    std::string extra = "X-Custom: custom-" + std::to_string(code) + "\r\n";
    if (code == 302) extra += "Location: /elsewhere?a=1\r\n";
    if (code == 503) extra += "Retry-After: 7\r\n";
    std::string body = (code == 204 || code == 304) ? "" : "status " + std::to_string(code) + "\n";
    if (code != 204 && code != 304) {
      extra += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    c.write(head(code, "Whatever", extra + "\r\n", id) + body);
    return true;
  }
  if (starts("/hop")) {
    c.write(head(200, "OK", "Connection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n"
                            "Proxy-Thing: 2\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok", id));
    return true;
  }
  if (starts("/big-head")) {
    std::string big = "X-Big: " + std::string(70 * 1024, 'a') + "\r\nContent-Length: 0\r\n\r\n";
    c.write(head(200, "OK", big, id));
    return true;
  }
  if (starts("/ws")) {
    webSocketEcho(c, r, id);
    return false;
  }
  if (starts("/crash")) {
    _exit(42);
  }
  if (starts("/orphan")) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    pid_t child = fork();
    if (child == 0) {
      pid_t grandchild = fork();
      if (grandchild == 0) {
        close(fds[0]);
        close(fds[1]);
        usleep(300000);
        _exit(0);
      }
      ssize_t w = write(fds[1], &grandchild, sizeof(grandchild));
      _exit(w == sizeof(grandchild) ? 0 : 1);
    }
    close(fds[1]);
    pid_t grandchild = 0;
    ssize_t got = read(fds[0], &grandchild, sizeof(grandchild));
    close(fds[0]);
    waitpid(child, nullptr, 0);
    std::string body = got == sizeof(grandchild) ? std::to_string(grandchild) : "error";
    c.write(head(200, "OK", "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n", id) +
            body);
    return true;
  }
  if (starts("/hang")) {
    std::string ignored;
    while (c.readExact(1, ignored)) ignored.clear();  // until the client (the bridge) closes
    return false;
  }
  auto reply = [&](const std::string& body) {
    c.write(head(200, "OK", "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n", id) +
            body);
  };
  if (starts("/flood")) {
    uint64_t total = queryNumber(t, "mb", 64) << 20;
    std::string logLine(1023, 'x');
    logLine += '\n';
    uint64_t written = 0;
    while (written < total) {
      ssize_t n = write(STDERR_FILENO, logLine.data(), logLine.size());
      if (n <= 0) break;
      written += n;
    }
    reply("flooded " + std::to_string(written));
    return true;
  }
  if (starts("/fill")) {
    int fd = open("/var/fill", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::vector<char> block(1 << 20, 'f');
    uint64_t written = 0;
    int error = fd < 0 ? errno : 0;
    while (fd >= 0) {
      ssize_t n = write(fd, block.data(), block.size());
      if (n < 0) {
        error = errno;
        break;
      }
      written += n;
    }
    if (fd >= 0 && error == 0 && fsync(fd) != 0) error = errno;
    if (fd >= 0) close(fd);
    if (t.find("keep=1") == std::string::npos) unlink("/var/fill");  // leave the grain usable
    reply(std::string(strerrorname_np(error) ? strerrorname_np(error) : "?") + " " +
          std::to_string(written));
    return true;
  }
  if (starts("/hog")) {
    uint64_t size = queryNumber(t, "mb", 2048) << 20;
    std::vector<char*> blocks;
    for (uint64_t done = 0; done < size; done += 1 << 20) {
      char* block = static_cast<char*>(malloc(1 << 20));
      if (block == nullptr) break;
      memset(block, 1, 1 << 20);
      blocks.push_back(block);
    }
    for (char* b : blocks) free(b);
    reply("survived");
    return true;
  }
  if (starts("/forkbomb")) {
    std::vector<pid_t> children;
    int error = 0;
    for (;;) {
      pid_t child = fork();
      if (child < 0) {
        error = errno;
        break;
      }
      if (child == 0) {
        pause();
        _exit(0);
      }
      children.push_back(child);
      if (children.size() > 100000) break;
    }
    usleep(500 * 1000);  // hold the pids for a moment, as a bomb would
    for (pid_t p : children) kill(p, SIGKILL);
    for (pid_t p : children) waitpid(p, nullptr, 0);
    reply(std::string(strerrorname_np(error) ? strerrorname_np(error) : "?") + " " +
          std::to_string(children.size()));
    return true;
  }
  c.write(head(404, "Not Found", "Content-Length: 0\r\n\r\n", id));
  return true;
}

void serve(int fd) {
  Conn c(fd);
  int id = ++connectionCounter;
  try {
    while (serveOne(c, id)) {}
  } catch (std::exception&) {
  }
}

}  // namespace

int main(int argc, char* argv[]) {
  if (argc < 2 || sodium_init() < 0) {
    fprintf(stderr, "usage: bridge-test-app <port> [--listen-delay-ms N]\n");
    return 2;
  }
  if (argc >= 4 && strcmp(argv[2], "--listen-delay-ms") == 0) usleep(atoi(argv[3]) * 1000);
  signal(SIGPIPE, SIG_IGN);
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(atoi(argv[1]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 128) != 0) {
    perror("bridge-test-app: listen");
    return 1;
  }
  for (;;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::thread(serve, fd).detach();
  }
}
