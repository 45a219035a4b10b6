// A WebSocket chat room: one static binary, one thread, poll(). Runs in a grain behind the http
// bridge (`/sandstorm-http-bridge 8000 -- /bin/chat`).
//
//   GET /          the page (self-contained: inline style and script, no outside resources)
//   GET /history   the last 200 messages as a JSON array
//   GET /ws        WebSocket (RFC 6455): text messages are broadcast to everyone as
//                  {"name","text","time"}; the name is X-Sandstorm-Username.
//
// Messages are appended to $CHAT_DIR/chat.log (default /var), one JSON line each, fsync'ed:
// the room survives the grain being stopped and restarted. Hostile input is bounded: heads of
// 16 KiB, messages of 64 KiB (close 1009), unmasked client frames (close 1002), and a client
// that does not read has at most 1 MiB queued before it is dropped.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr size_t MAX_HEAD = 16 * 1024;
constexpr size_t MAX_MESSAGE = 64 * 1024;
constexpr size_t MAX_QUEUED = 1024 * 1024;
constexpr size_t HISTORY = 200;
std::string logPath = "/var/chat.log";
std::deque<std::string> history;  // JSON objects

// ---- SHA-1 and base64, for Sec-WebSocket-Accept only ----

uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

std::string sha1(const std::string& input) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m = input;
  uint64_t bits = uint64_t(input.size()) * 8;
  m += char(0x80);
  while (m.size() % 64 != 56) m += char(0);
  for (int i = 7; i >= 0; i--) m += char((bits >> (8 * i)) & 0xff);
  for (size_t off = 0; off < m.size(); off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++) {
      w[i] = uint32_t(uint8_t(m[off + 4 * i])) << 24 | uint32_t(uint8_t(m[off + 4 * i + 1])) << 16 |
             uint32_t(uint8_t(m[off + 4 * i + 2])) << 8 | uint32_t(uint8_t(m[off + 4 * i + 3]));
    }
    for (int i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
      else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
      else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
      else { f = b ^ c ^ d; k = 0xCA62C1D6; }
      uint32_t t = rotl(a, 5) + f + e + k + w[i];
      e = d; d = c; c = rotl(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
  }
  std::string out;
  for (uint32_t v: h) for (int i = 3; i >= 0; i--) out += char((v >> (8 * i)) & 0xff);
  return out;
}

std::string base64(const std::string& in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = uint8_t(in[i]) << 16 | uint8_t(in[i + 1]) << 8 | uint8_t(in[i + 2]);
    out += table[n >> 18]; out += table[(n >> 12) & 63]; out += table[(n >> 6) & 63]; out += table[n & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += table[n >> 18]; out += table[(n >> 12) & 63]; out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16 | uint8_t(in[i + 1]) << 8;
    out += table[n >> 18]; out += table[(n >> 12) & 63]; out += table[(n >> 6) & 63]; out += '=';
  }
  return out;
}

// ---- Text helpers ----

std::string header(const std::string& head, const char* name) {
  size_t pos = 0;
  size_t n = strlen(name);
  while ((pos = head.find("\r\n", pos)) != std::string::npos) {
    pos += 2;
    if (head.size() - pos > n && strncasecmp(head.c_str() + pos, name, n) == 0 && head[pos + n] == ':') {
      size_t start = pos + n + 1;
      while (start < head.size() && head[start] == ' ') start++;
      return head.substr(start, head.find("\r\n", start) - start);
    }
  }
  return "";
}

std::string percentDecode(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] == '%' && i + 2 < in.size() && isxdigit(uint8_t(in[i + 1])) && isxdigit(uint8_t(in[i + 2]))) {
      out += char(strtol(in.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

std::string jsonString(const std::string& in) {
  std::string out = "\"";
  for (unsigned char c: in) {
    if (c == '"' || c == '\\') { out += '\\'; out += char(c); }
    else if (c == '\n') out += "\\n";
    else if (c < 0x20) { char b[8]; snprintf(b, sizeof(b), "\\u%04x", c); out += b; }
    else if (c == '<') out += "\\u003c";
    else out += char(c);
  }
  return out + "\"";
}

bool validUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = s[i];
    size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 4;
    if (n == 4) return false;
    if (n > 0 && i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; k++) {
      if ((uint8_t(s[i + k]) >> 6) != 2) return false;
    }
    i += n + 1;
  }
  return true;
}

const char PAGE[] = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat</title>
<style>
:root{color-scheme:light dark;--b:#5b3cc4}
body{font-family:system-ui,sans-serif;margin:0;display:flex;flex-direction:column;height:100vh}
header{padding:.6rem 1rem;border-bottom:1px solid #8884;display:flex;justify-content:space-between}
#state{font-size:.85rem;opacity:.75}
#log{flex:1;overflow:auto;margin:0;padding:1rem;list-style:none}
#log li{margin:.35rem 0}#log b{margin-right:.4rem}#log time{font-size:.75rem;opacity:.6;margin-left:.4rem}
form{display:flex;gap:.5rem;padding:.75rem 1rem;border-top:1px solid #8884}
input{flex:1;padding:.55rem;font:inherit;border:1px solid #8888;border-radius:6px}
button{padding:.55rem 1rem;font:inherit;border:0;border-radius:6px;background:var(--b);color:#fff}
</style></head><body>
<header><strong>Chat room</strong><span id="state" role="status">connecting…</span></header>
<ul id="log" aria-live="polite" aria-label="Messages"></ul>
<form id="f"><label for="m" class="sr" style="position:absolute;left:-9999px">Message</label>
<input id="m" autocomplete="off" maxlength="4000" placeholder="Write a message and press Enter" required>
<button>Send</button></form>
<script>
const log=document.getElementById('log'),state=document.getElementById('state'),input=document.getElementById('m');
let ws,delay=500;
function show(m){const li=document.createElement('li');const b=document.createElement('b');b.textContent=m.name;
const t=document.createElement('time');t.textContent=new Date(m.time*1000).toLocaleTimeString();
li.append(b,document.createTextNode(m.text),t);log.append(li);log.scrollTop=log.scrollHeight;}
function connect(){const u=new URL('ws',location.href);u.protocol=u.protocol==='https:'?'wss:':'ws:';
ws=new WebSocket(u);ws.onopen=()=>{state.textContent='connected';delay=500;};
ws.onmessage=(e)=>{try{show(JSON.parse(e.data));}catch{}};
ws.onclose=()=>{state.textContent='reconnecting…';setTimeout(connect,delay);delay=Math.min(delay*2,10000);};}
fetch('history').then(r=>r.json()).then(a=>{a.forEach(show);connect();}).catch(connect);
document.getElementById('f').onsubmit=(e)=>{e.preventDefault();if(ws&&ws.readyState===1&&input.value.trim()){ws.send(input.value);input.value='';}};
</script></body></html>)HTML";

// ---- Connections ----

struct Client {
  int fd = -1;
  bool websocket = false;
  bool closing = false;   // close frame sent or fatal: drop after flushing
  std::string in;
  std::string out;
  std::string name;
  std::string message;    // fragments so far
  bool inMessage = false;
};

std::vector<std::unique_ptr<Client>> clients;

void queue(Client& c, const std::string& bytes) {
  if (c.out.size() + bytes.size() > MAX_QUEUED) {
    c.closing = true;  // it does not read: drop it, never block the others
    c.out.clear();
    return;
  }
  c.out += bytes;
}

std::string frame(uint8_t opcode, const std::string& payload) {
  std::string f(1, char(0x80 | opcode));
  if (payload.size() < 126) f += char(payload.size());
  else if (payload.size() < 65536) { f += char(126); f += char(payload.size() >> 8); f += char(payload.size() & 0xff); }
  else { f += char(127); for (int i = 7; i >= 0; i--) f += char((uint64_t(payload.size()) >> (8 * i)) & 0xff); }
  return f + payload;
}

void closeWith(Client& c, uint16_t code) {
  std::string p;
  p += char(code >> 8);
  p += char(code & 0xff);
  queue(c, frame(0x8, p));
  c.closing = true;
}

void respond(Client& c, const char* status, const char* type, const std::string& body) {
  queue(c, std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
           "\r\nCache-Control: no-store\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
}

void broadcast(const std::string& json) {
  auto f = frame(0x1, json);
  for (auto& c: clients) if (c->websocket && !c->closing) queue(*c, f);
}

void remember(const std::string& json) {
  history.push_back(json);
  if (history.size() > HISTORY) history.pop_front();
  int fd = open(logPath.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) { perror("chat: cannot write the history"); return; }
  std::string line = json + "\n";
  if (write(fd, line.data(), line.size()) != ssize_t(line.size()) || fsync(fd) != 0) perror("chat: write");
  close(fd);
}

void loadHistory() {
  FILE* f = fopen(logPath.c_str(), "r");
  if (f == nullptr) return;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) {
    std::string s(line, n);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
      history.push_back(s);
      if (history.size() > HISTORY) history.pop_front();
    }
  }
  free(line);
  fclose(f);
}

// Parses complete frames from c.in. Returns false when the connection must end now.
void readFrames(Client& c) {
  for (;;) {
    if (c.closing || c.in.size() < 2) return;
    uint8_t b0 = c.in[0], b1 = c.in[1];
    bool fin = b0 & 0x80;
    uint8_t opcode = b0 & 0x0f;
    if (b0 & 0x70) { closeWith(c, 1002); return; }  // no extension was agreed
    if (!(b1 & 0x80)) { closeWith(c, 1002); return; }  // clients must mask (RFC 6455 §5.1)
    uint64_t len = b1 & 0x7f;
    size_t pos = 2;
    if (len == 126) {
      if (c.in.size() < 4) return;
      len = uint8_t(c.in[2]) << 8 | uint8_t(c.in[3]);
      pos = 4;
    } else if (len == 127) {
      if (c.in.size() < 10) return;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | uint8_t(c.in[2 + i]);
      pos = 10;
    }
    if (len > MAX_MESSAGE || c.message.size() + len > MAX_MESSAGE) { closeWith(c, 1009); return; }
    if (c.in.size() < pos + 4 + len) return;
    std::string payload = c.in.substr(pos + 4, len);
    for (size_t i = 0; i < payload.size(); i++) payload[i] ^= c.in[pos + (i % 4)];
    c.in.erase(0, pos + 4 + len);
    if (opcode >= 0x8) {  // control frames: never fragmented, at most 125 bytes
      if (!fin || len > 125) { closeWith(c, 1002); return; }
      if (opcode == 0x8) {  // echo the code, then close
        queue(c, frame(0x8, payload.substr(0, 2)));
        c.closing = true;
        return;
      }
      if (opcode == 0x9) queue(c, frame(0xA, payload));
      continue;  // pong: ignore
    }
    if (opcode == 0x0 && !c.inMessage) { closeWith(c, 1002); return; }
    if ((opcode == 0x1 || opcode == 0x2) && c.inMessage) { closeWith(c, 1002); return; }
    if (opcode == 0x1 || opcode == 0x2) { c.inMessage = true; c.message.clear(); }
    else if (opcode != 0x0) { closeWith(c, 1002); return; }
    c.message += payload;
    if (!fin) continue;
    c.inMessage = false;
    if (!validUtf8(c.message)) { closeWith(c, 1007); return; }
    if (c.message.empty()) continue;
    std::string json = "{\"name\":" + jsonString(c.name) + ",\"text\":" + jsonString(c.message) +
                       ",\"time\":" + std::to_string(time(nullptr)) + "}";
    c.message.clear();
    remember(json);
    broadcast(json);
  }
}

void readRequest(Client& c) {
  size_t end = c.in.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c.in.size() > MAX_HEAD) { respond(c, "431 Request Header Fields Too Large", "text/plain", "too large\n"); c.closing = true; }
    return;
  }
  std::string head = c.in.substr(0, end + 2);
  c.in.erase(0, end + 4);
  size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) {
    respond(c, "400 Bad Request", "text/plain", "bad request\n");
    c.closing = true;
    return;
  }
  std::string method = head.substr(0, sp1);
  std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
  if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
  std::string route = target.substr(target.rfind('/') == std::string::npos ? 0 : target.rfind('/'));
  if (!header(head, "content-length").empty() && header(head, "content-length") != "0") {
    respond(c, "400 Bad Request", "text/plain", "this app takes no request bodies\n");
    c.closing = true;
    return;
  }
  std::string user = header(head, "x-sandstorm-username");
  c.name = user.empty() ? "Anonymous" : percentDecode(user);
  if (!validUtf8(c.name) || c.name.size() > 200) c.name = "Anonymous";
  if (method == "GET" && route == "/ws") {
    std::string key = header(head, "sec-websocket-key");
    if (header(head, "sec-websocket-version") != "13" || key.size() != 24 ||
        strcasestr(header(head, "upgrade").c_str(), "websocket") == nullptr) {
      respond(c, "400 Bad Request", "text/plain", "expected a WebSocket (version 13) handshake\n");
      c.closing = true;
      return;
    }
    queue(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: " + base64(sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) + "\r\n\r\n");
    c.websocket = true;
    readFrames(c);
  } else if (method == "GET" && route == "/history") {
    std::string body = "[";
    for (size_t i = 0; i < history.size(); i++) body += (i ? "," : "") + history[i];
    respond(c, "200 OK", "application/json", body + "]");
  } else if ((method == "GET" || method == "HEAD") && (route == "/" || route.empty())) {
    respond(c, "200 OK", "text/html; charset=utf-8", method == "HEAD" ? "" : PAGE);
  } else {
    respond(c, "404 Not Found", "text/plain", "not found\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8000;
  if (const char* dir = getenv("CHAT_DIR")) logPath = std::string(dir) + "/chat.log";
  signal(SIGPIPE, SIG_IGN);
  loadHistory();
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 || listen(listener, 128) < 0) {
    perror("chat: bind 127.0.0.1");
    return 1;
  }
  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({listener, POLLIN, 0});
    for (auto& c: clients) fds.push_back({c->fd, short(POLLIN | (c->out.empty() ? 0 : POLLOUT)), 0});
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      perror("chat: poll");
      return 1;
    }
    if (fds[0].revents & POLLIN) {
      int fd;
      while ((fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        auto c = std::make_unique<Client>();
        c->fd = fd;
        clients.push_back(std::move(c));
      }
    }
    for (size_t i = 1; i < fds.size(); i++) {
      Client& c = *clients[i - 1];
      bool dead = false;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[65536];
        ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
        if (n <= 0) {
          if (n == 0 || (errno != EAGAIN && errno != EINTR)) dead = true;
        } else if (!c.closing) {
          c.in.append(buf, n);
          if (c.websocket) readFrames(c); else readRequest(c);
          // Keep-alive HTTP: more requests may be waiting in the buffer.
          while (!c.websocket && !c.closing && c.in.find("\r\n\r\n") != std::string::npos) readRequest(c);
        }
      }
      if (!dead && !c.out.empty()) {
        ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) c.out.erase(0, n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR) dead = true;
      }
      if (!dead && c.closing && c.out.empty()) dead = true;
      if (dead) { close(c.fd); c.fd = -1; }
    }
    std::vector<std::unique_ptr<Client>> alive;
    for (auto& c: clients) if (c->fd >= 0) alive.push_back(std::move(c));
    clients.swap(alive);
  }
}
