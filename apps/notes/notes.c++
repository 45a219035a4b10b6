// A tiny notes app: one static binary, an HTTP/1.1 server on 127.0.0.1:8000 storing each note as
// a file under /var/notes/. Made to run inside a grain behind the http bridge
// (`/sandstorm-http-bridge 8000 -- /bin/notes`), so it trusts nothing about its input but also
// serves only the one user the platform lets through.
//
// Routes: GET / (the list and a form), POST /add (text=...), POST /delete (id=...). Both POSTs
// answer 303 See Other back to / so a reload never re-submits.
// Benchmark routes (used by perf/, harmless otherwise): GET /1k answers 1024 fixed bytes;
// GET /bytes?n=N streams N bytes ('a' + i % 26); POST /sink reads a body of any size without keeping it and
// answers "<bytes> <sum>\n", sum being the 64-bit sum (hex) of the body's little-endian 8-byte
// words (the last one zero-padded), so a client can check what arrived.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

constexpr size_t MAX_HEAD = 16 * 1024;     // request line + headers
constexpr size_t MAX_BODY = 64 * 1024;     // one note
std::string notesDir = "/var/notes";

std::string htmlEscape(const std::string& in) {
  std::string out;
  for (char c: in) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string formValue(const std::string& body, const std::string& key) {
  // application/x-www-form-urlencoded: key=value&..., '+' is a space, %XX a byte.
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t end = body.find('&', pos);
    if (end == std::string::npos) end = body.size();
    std::string pair = body.substr(pos, end - pos);
    size_t eq = pair.find('=');
    if (eq != std::string::npos && pair.substr(0, eq) == key) {
      std::string out;
      for (size_t i = eq + 1; i < pair.size(); i++) {
        if (pair[i] == '+') out += ' ';
        else if (pair[i] == '%' && i + 2 < pair.size() && isxdigit(pair[i + 1]) &&
                 isxdigit(pair[i + 2])) {
          out += static_cast<char>(strtol(pair.substr(i + 1, 2).c_str(), nullptr, 16));
          i += 2;
        } else out += pair[i];
      }
      return out;
    }
    pos = end + 1;
  }
  return "";
}

bool validId(const std::string& id) {
  // Ids are ours ("<seconds>-<nanoseconds>"); anything else could name a path.
  if (id.empty() || id.size() > 40) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return isdigit(c) || c == '-'; });
}

std::string readWhole(const std::string& path) {
  std::string out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  return out;
}

std::string listPage() {
  std::vector<std::string> ids;
  if (DIR* dir = opendir(notesDir.c_str())) {
    while (dirent* e = readdir(dir)) {
      std::string name = e->d_name;
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".txt") == 0 &&
          validId(name.substr(0, name.size() - 4))) {
        ids.push_back(name.substr(0, name.size() - 4));
      }
    }
    closedir(dir);
  }
  std::sort(ids.begin(), ids.end());
  std::string html =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>Notes</title>"
      "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
      "li{margin:.5em 0;white-space:pre-wrap}form.d{display:inline}</style></head><body>"
      "<h1>Notes</h1><form method=\"post\" action=\"add\"><textarea name=\"text\" rows=\"3\" "
      "cols=\"50\" required></textarea><br><button>Add note</button></form><ul>";
  for (auto& id: ids) {
    html += "<li>" + htmlEscape(readWhole(notesDir + "/" + id + ".txt")) +
            " <form class=\"d\" method=\"post\" action=\"delete\"><input type=\"hidden\" "
            "name=\"id\" value=\"" + id + "\"><button>Delete</button></form></li>";
  }
  html += "</ul></body></html>\n";
  return html;
}

void sendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += n;
  }
}

void respond(int fd, const char* status, const std::string& type, const std::string& body,
             const std::string& extra = "") {
  std::string head = std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
                     "\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nCache-Control: no-store\r\n" + extra + "\r\n";
  sendAll(fd, head + body);
}

std::string header(const std::string& head, const std::string& name) {
  // Case-insensitive lookup of one header in the raw head.
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  size_t pos = lower.find("\r\n" + name + ":");
  if (pos == std::string::npos) return "";
  pos += name.size() + 3;
  size_t end = head.find("\r\n", pos);
  std::string value = head.substr(pos, end - pos);
  value.erase(0, value.find_first_not_of(" \t"));
  return value;
}

// POST /sink: consumes `length` body bytes (some may already be in `buffer`) in fixed-size chunks.
bool sink(int fd, std::string& buffer, uint64_t length) {
  uint64_t got = 0, sum = 0;
  unsigned char carry[8];
  size_t carried = 0;
  auto add = [&](const char* p, size_t n) {
    got += n;
    while (n > 0 && carried > 0) {
      carry[carried++] = static_cast<unsigned char>(*p++);
      n--;
      if (carried == 8) {
        uint64_t w;
        memcpy(&w, carry, 8);
        sum += w;
        carried = 0;
      }
    }
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      sum += w;
    }
    while (n > 0) { carry[carried++] = static_cast<unsigned char>(*p++); n--; }
  };
  size_t first = static_cast<size_t>(std::min<uint64_t>(buffer.size(), length));
  add(buffer.data(), first);
  buffer.erase(0, first);
  std::vector<char> chunk(256 * 1024);
  while (got < length) {
    ssize_t n = recv(fd, chunk.data(), std::min<uint64_t>(chunk.size(), length - got), 0);
    if (n <= 0) return false;
    add(chunk.data(), n);
  }
  if (carried > 0) {
    memset(carry + carried, 0, 8 - carried);
    uint64_t w;
    memcpy(&w, carry, 8);
    sum += w;
  }
  char text[64];
  snprintf(text, sizeof(text), "%llu %016llx\n", static_cast<unsigned long long>(got),
           static_cast<unsigned long long>(sum));
  respond(fd, "200 OK", "text/plain", text);
  return true;
}

// GET /bytes?n=N: N bytes of a fixed pattern, sent from one reused buffer.
bool bytes(int fd, uint64_t n, bool headOnly) {
  // Nagle would hold the body's last partial segment until the client's delayed ACK (40 ms).
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                  std::to_string(n) + "\r\nCache-Control: no-store\r\n\r\n");
  if (headOnly) return true;
  // Byte i of the body is 'a' + i % 26 (the buffer holds a whole number of periods).
  static const std::string pattern = [] {
    std::string p(26 * 10000, '\0');
    for (size_t i = 0; i < p.size(); i++) p[i] = static_cast<char>('a' + i % 26);
    return p;
  }();
  size_t offset = 0;
  while (n > 0) {
    size_t part = static_cast<size_t>(std::min<uint64_t>(n, pattern.size() - offset));
    ssize_t sent = send(fd, pattern.data() + offset, part, MSG_NOSIGNAL);
    if (sent <= 0) return false;
    n -= sent;
    offset = (offset + sent) % pattern.size();
  }
  return true;
}

bool handle(int fd, std::string& buffer) {
  // Returns false to close the connection.
  size_t headEnd;
  while ((headEnd = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (buffer.size() > MAX_HEAD) return false;
    char chunk[8192];
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer.append(chunk, n);
  }
  std::string head = buffer.substr(0, headEnd + 2);
  std::string method = head.substr(0, head.find(' '));
  size_t targetStart = method.size() + 1;
  std::string target = head.substr(targetStart, head.find(' ', targetStart) - targetStart);
  size_t query = target.find('?');
  std::string queryText = query == std::string::npos ? "" : target.substr(query + 1);
  if (query != std::string::npos) target.resize(query);
  size_t slash = target.rfind('/');  // behind a base path, only the last segment matters
  std::string route = slash == std::string::npos ? target : target.substr(slash);
  if (!header(head, "transfer-encoding").empty()) {
    respond(fd, "501 Not Implemented", "text/plain", "chunked bodies not supported\n",
            "Connection: close\r\n");
    return false;
  }
  std::string lengthText = header(head, "content-length");
  uint64_t length = lengthText.empty() ? 0 : strtoull(lengthText.c_str(), nullptr, 10);
  bool keepAlive = header(head, "connection") != "close";
  if (method == "POST" && route == "/sink") {
    buffer.erase(0, headEnd + 4);
    return sink(fd, buffer, length) && keepAlive;
  }
  if ((method == "GET" || method == "HEAD") && route == "/bytes") {
    if (length != 0) return false;
    buffer.erase(0, headEnd + 4);
    uint64_t n = 0;
    if (queryText.compare(0, 2, "n=") == 0) n = strtoull(queryText.c_str() + 2, nullptr, 10);
    return bytes(fd, n, method == "HEAD") && keepAlive;
  }
  if (length > MAX_BODY) {
    respond(fd, "413 Content Too Large", "text/plain", "too large\n", "Connection: close\r\n");
    return false;
  }
  buffer.erase(0, headEnd + 4);
  while (buffer.size() < length) {
    char chunk[8192];
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer.append(chunk, n);
  }
  std::string body = buffer.substr(0, length);
  buffer.erase(0, length);

  if (method == "GET" && route == "/1k") {
    static const std::string kib = [] {
      std::string p;
      while (p.size() < 1024) p += "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
      p.resize(1024);
      return p;
    }();
    respond(fd, "200 OK", "text/plain", kib);
  } else if ((method == "GET" || method == "HEAD") && (route == "/" || route.empty())) {
    std::string page = listPage();
    if (method == "HEAD") {
      sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                  "Content-Length: " + std::to_string(page.size()) + "\r\n\r\n");
    } else {
      respond(fd, "200 OK", "text/html; charset=utf-8", page);
    }
  } else if (method == "POST" && route == "/add") {
    std::string text = formValue(body, "text");
    bool saved = true;
    if (!text.empty()) {
      mkdir(notesDir.c_str(), 0700);
      timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      char id[48];
      snprintf(id, sizeof(id), "%010lld-%09ld", static_cast<long long>(now.tv_sec), now.tv_nsec);
      std::string tmp = notesDir + "/." + id + ".tmp";
      // Durable before the answer: the file's bytes, then its name (the directory) on disk.
      int out = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      saved = out >= 0;
      if (saved) {
        saved = write(out, text.data(), text.size()) == static_cast<ssize_t>(text.size());
        saved = fsync(out) == 0 && saved;
        close(out);
        saved = saved && rename(tmp.c_str(), (notesDir + "/" + id + ".txt").c_str()) == 0;
        if (!saved) unlink(tmp.c_str());
      }
      int dir = saved ? open(notesDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
      saved = saved && dir >= 0 && fsync(dir) == 0;
      if (dir >= 0) close(dir);
    }
    if (saved) {
      respond(fd, "303 See Other", "text/plain", "", "Location: ./\r\n");
    } else {
      respond(fd, "500 Internal Server Error", "text/plain", "the note could not be saved\n");
    }
  } else if (method == "POST" && route == "/delete") {
    std::string id = formValue(body, "id");
    if (validId(id)) unlink((notesDir + "/" + id + ".txt").c_str());
    respond(fd, "303 See Other", "text/plain", "", "Location: ./\r\n");
  } else {
    respond(fd, "404 Not Found", "text/plain", "not found\n");
  }
  return keepAlive;
}

}  // namespace

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8000;
  if (const char* dir = getenv("NOTES_DIR")) notesDir = dir;
  signal(SIGPIPE, SIG_IGN);
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 ||
      listen(listener, 64) < 0) {
    perror("notes: bind 127.0.0.1");
    return 1;
  }
  fprintf(stderr, "notes: listening on 127.0.0.1:%d, storing in %s\n", port, notesDir.c_str());
  for (;;) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // A thread per connection: the bridge keeps a pool of keep-alive connections to us, and
    // one held connection must not stall the others. A stalled client cannot hold one forever.
    timeval timeout{30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    try {
      std::thread([fd]() {
        std::string buffer;
        while (handle(fd, buffer)) {}
        close(fd);
      }).detach();
    } catch (const std::system_error&) {
      // Out of threads (the grain's process limit): refuse this connection, keep serving.
      close(fd);
    }
  }
}
