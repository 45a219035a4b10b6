// A WebSocket chat room: one static binary, one thread, poll(). Runs in a grain behind the http
// bridge (`/sandstorm-http-bridge 8000 -- /bin/chat`); the port is argv[1] (default 8000).
//
//   GET /          the page (self-contained: inline style and script, no outside resources)
//   GET /history   the last 200 messages as a JSON array, oldest first
//   GET /ws        WebSocket (RFC 6455): each text message is broadcast to every client as
//                  {"name":..., "text":..., "time":<ms since the epoch>}; the name is the
//                  X-Sandstorm-Username header, percent-decoded ("Anonymous" without one).
// Routing looks only at the last path segment, so the app works under any base path.
//
// Messages are appended to $CHAT_VAR_DIR/chat.log (default /var), one JSON line each, and
// fdatasync'ed once per loop turn before anyone sees them (group commit): the room survives the
// grain being killed and restarted. A line torn by a crash is cut off at the next start.
//
// Every input is bounded, because every byte of it comes from outside: request heads of 16 KiB,
// messages of 1 MiB (close 1009), client frames must be masked (close 1002), text must be UTF-8
// (close 1007). Output is written without blocking; a WebSocket client whose queue passes
// MAX_QUEUED is dropped, so one reader that stalls never holds up the room.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frames.h"

namespace {

// ---- Limits (each one says why) ----

constexpr size_t MAX_HEAD = 16 * 1024;           // request line + headers; ours are small
constexpr size_t MAX_MESSAGE = 1024 * 1024;      // one chat message, all fragments together
constexpr size_t MAX_NAME = 256;                 // bytes of display name we keep
// The largest frame we ever send: a message whose every byte JSON-escapes to "\u00XX".
constexpr size_t MAX_FRAME = 6 * MAX_MESSAGE + 6 * MAX_NAME + 64;
// Per-client unsent bytes before a WebSocket client is dropped: room for the largest frame and
// then some, so a healthy client is never dropped for one big message.
constexpr size_t MAX_QUEUED = MAX_FRAME + 2 * 1024 * 1024;
constexpr size_t HISTORY_COUNT = 200;            // messages kept and served
constexpr size_t HISTORY_BYTES = 16 * 1024 * 1024;  // and at most this much of them in memory
static_assert(HISTORY_BYTES >= MAX_FRAME, "the newest message always fits in the history");
constexpr size_t MAX_CLIENTS = 512;              // stop accepting beyond this (fds are finite)
constexpr size_t READ_BUDGET = 256 * 1024;       // bytes read per client per turn (fairness)
constexpr int64_t HEAD_TIMEOUT_MS = 30'000;      // a started request head must finish by then
constexpr int64_t IDLE_TIMEOUT_MS = 300'000;     // an idle keep-alive HTTP connection
constexpr int64_t STALL_TIMEOUT_MS = 60'000;     // queued output and no byte taken for this long
constexpr int64_t LINGER_MS = 2'000;             // after our last byte, wait for the peer's EOF

const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int64_t monotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

int64_t wallMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// ---- SHA-1 and base64, for Sec-WebSocket-Accept only (not for anything needing security) ----

uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

std::string sha1(std::string_view input) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m(input);
  uint64_t bits = uint64_t(input.size()) * 8;
  m += char(0x80);
  while (m.size() % 64 != 56) m += char(0);
  for (int i = 7; i >= 0; i--) m += char((bits >> (8 * i)) & 0xff);
  for (size_t off = 0; off < m.size(); off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++) {
      const auto* p = reinterpret_cast<const uint8_t*>(m.data() + off + 4 * i);
      w[i] = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
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
  for (uint32_t v: h) {
    for (int i = 3; i >= 0; i--) out += char((v >> (8 * i)) & 0xff);
  }
  return out;
}

const char BASE64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    size_t n = std::min<size_t>(3, in.size() - i);
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (n > 1) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    if (n > 2) v |= uint8_t(in[i + 2]);
    out += BASE64[v >> 18];
    out += BASE64[(v >> 12) & 63];
    out += n > 1 ? BASE64[(v >> 6) & 63] : '=';
    out += n > 2 ? BASE64[v & 63] : '=';
  }
  return out;
}

bool isWebSocketKey(std::string_view key) {
  // RFC 6455 §4.1: base64 of 16 bytes, i.e. 22 base64 characters and "==".
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) { return strchr(BASE64, c) && c; });
}

std::string webSocketAccept(std::string_view key) {
  return base64(sha1(std::string(key) + WS_GUID));
}

// ---- Text: UTF-8, JSON, percent-encoding, HTML ----

// utf8Sequence() and validUtf8() are in frames.h (the frame parser checks text with them).
using chat::utf8Sequence;
using chat::validUtf8;

// Valid UTF-8 of at most `limit` bytes: bad bytes become U+FFFD, control characters spaces.
std::string cleanUtf8(std::string_view s, size_t limit) {
  std::string out;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8Sequence(p + i, s.size() - i);
    std::string_view piece = len ? s.substr(i, len) : std::string_view("\xEF\xBF\xBD");
    if (len == 1 && (p[i] < 0x20 || p[i] == 0x7f)) piece = " ";
    if (out.size() + piece.size() > limit) break;
    out += piece;
    i += len ? len : 1;
  }
  return out;
}

std::string percentDecode(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out += char(hex(in[i + 1]) << 4 | hex(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

void appendJsonString(std::string& out, std::string_view in) {
  out += '"';
  for (unsigned char c: in) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          snprintf(b, sizeof(b), "\\u%04x", c);
          out += b;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}

// Skips one JSON string starting at s[pos] == '"'; false if it is not a well-formed one.
bool skipJsonString(std::string_view s, size_t& pos) {
  if (pos >= s.size() || s[pos] != '"') return false;
  for (pos++; pos < s.size(); pos++) {
    unsigned char c = s[pos];
    if (c == '"') { pos++; return true; }
    if (c < 0x20) return false;
    if (c != '\\') continue;
    if (++pos >= s.size()) return false;
    if (s[pos] == 'u') {
      if (pos + 4 >= s.size()) return false;
      for (int k = 1; k <= 4; k++) {
        if (!isxdigit(uint8_t(s[pos + k]))) return false;
      }
      pos += 4;
    } else if (!strchr("\"\\/bfnrt", s[pos]) || s[pos] == 0) {
      return false;
    }
  }
  return false;
}

// A history line is exactly what post() writes: {"name":"...","text":"...","time":digits}.
bool validHistoryLine(std::string_view line) {
  if (!validUtf8(line)) return false;
  size_t pos = 0;
  auto expect = [&](std::string_view lit) {
    if (line.substr(pos, lit.size()) != lit) return false;
    pos += lit.size();
    return true;
  };
  if (!expect("{\"name\":") || !skipJsonString(line, pos)) return false;
  if (!expect(",\"text\":") || !skipJsonString(line, pos)) return false;
  if (!expect(",\"time\":")) return false;
  size_t digits = pos;
  while (pos < line.size() && isdigit(uint8_t(line[pos]))) pos++;
  if (pos == digits || pos - digits > 16) return false;
  return expect("}") && pos == line.size();
}

std::string htmlEscape(std::string_view in) {
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

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Whether a comma-separated header value holds `token` (case-insensitive), e.g.
// "Connection: keep-alive, Upgrade" holds "upgrade".
bool hasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (equalsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// ---- The page ----

// {{ME}} is replaced by the viewer's display name (HTML-escaped), to mark their own messages.
const char PAGE[] = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat room</title>
<style>
:root{color-scheme:light dark;--accent:#4f46e5;--bg:#f4f4f8;--card:#fff;--muted:#5d6170;--line:#d9dae3;--warn:#b7791f;--ok:#2f855a}
@media (prefers-color-scheme:dark){:root{--accent:#9f98ff;--bg:#16171d;--card:#22242d;--muted:#a3a7b5;--line:#363947;--warn:#ecc94b;--ok:#68d391}}
*{box-sizing:border-box}
html,body{height:100%}
body{margin:0;display:flex;flex-direction:column;background:var(--bg);color:CanvasText;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;align-items:center;justify-content:space-between;gap:1rem;padding:.7rem 1rem;background:var(--card);border-bottom:1px solid var(--line)}
h1{font-size:1.1rem;margin:0}
#state{display:flex;align-items:center;gap:.45rem;font-size:.85rem;color:var(--muted)}
#state::before{content:"";width:.6rem;height:.6rem;border-radius:50%;background:var(--warn)}
#state.ok::before{background:var(--ok)}
main{flex:1;overflow-y:auto;padding:1rem}
#log{list-style:none;margin:0 auto;padding:0;max-width:46rem;display:flex;flex-direction:column;gap:.5rem}
#log li{align-self:flex-start;max-width:85%;padding:.45rem .8rem;background:var(--card);border:1px solid var(--line);border-radius:14px 14px 14px 4px}
#log li.me{align-self:flex-end;border-color:var(--accent);border-radius:14px 14px 4px 14px}
.who{font-weight:600;margin-right:.5rem}
time{font-size:.75rem;color:var(--muted)}
.text{white-space:pre-wrap;overflow-wrap:anywhere}
#empty{color:var(--muted);text-align:center;margin-top:2rem}
form{display:flex;gap:.5rem;padding:.75rem 1rem;background:var(--card);border-top:1px solid var(--line)}
input{flex:1;min-width:0;padding:.6rem .8rem;font:inherit;color:inherit;background:var(--bg);border:1px solid var(--line);border-radius:8px}
button{padding:.6rem 1.1rem;font:inherit;font-weight:600;color:#fff;background:var(--accent);border:0;border-radius:8px;cursor:pointer}
@media (prefers-color-scheme:dark){button{color:#111}}
input:focus-visible,button:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
#hint{margin:0;padding:0 1rem .5rem;background:var(--card);color:var(--warn);font-size:.85rem}
#hint:empty{display:none}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
</style></head>
<body data-me="{{ME}}">
<header><h1>Chat room</h1><span id="state" role="status">connecting…</span></header>
<main id="scroll"><p id="empty">No messages yet. Say hello!</p>
<ul id="log" aria-live="polite" aria-relevant="additions" aria-label="Messages"></ul></main>
<form id="form" autocomplete="off">
<label for="text" class="sr">Message</label>
<input id="text" name="text" placeholder="Write a message and press Enter" enterkeyhint="send" aria-describedby="hint">
<button type="submit">Send</button>
</form>
<p id="hint" role="alert"></p>
<script>
'use strict';
const $=id=>document.getElementById(id);
const log=$('log'),scroller=$('scroll'),state=$('state'),form=$('form'),input=$('text'),hint=$('hint'),empty=$('empty');
const me=document.body.dataset.me||'',MAX_BYTES=1048576,MAX_SHOWN=1000,encoder=new TextEncoder();
const seen=new Set();
let ws=null,attempt=0,timer=0;
function setState(text,ok){state.textContent=text;state.classList.toggle('ok',!!ok);}
function show(m){
  if(!m||typeof m.text!=='string')return;
  const key=m.time+'\n'+m.name+'\n'+m.text;
  if(seen.has(key))return;
  seen.add(key);
  const atBottom=scroller.scrollHeight-scroller.scrollTop-scroller.clientHeight<60;
  const li=document.createElement('li');
  const name=typeof m.name==='string'&&m.name?m.name:'Anonymous';
  if(me&&name===me)li.className='me';
  const who=document.createElement('span');who.className='who';who.textContent=name;
  const when=document.createElement('time');
  const date=new Date(m.time<1e11?m.time*1000:m.time);
  if(!isNaN(date)){when.dateTime=date.toISOString();when.textContent=date.toLocaleTimeString([],{hour:'2-digit',minute:'2-digit'});when.title=date.toLocaleString();}
  const text=document.createElement('div');text.className='text';text.textContent=m.text;
  li.append(who,when,text);
  log.append(li);
  empty.hidden=true;
  while(log.children.length>MAX_SHOWN)log.firstElementChild.remove();
  if(atBottom)scroller.scrollTop=scroller.scrollHeight;
}
function socketUrl(){const u=new URL('ws',location.href);u.protocol=u.protocol==='https:'?'wss:':'ws:';u.hash='';return u.href;}
function retry(){
  const delay=Math.min(30000,500*2**Math.min(attempt,6))*(0.75+Math.random()/2);
  attempt++;
  setState('disconnected, retrying in '+Math.max(1,Math.round(delay/1000))+' s');
  clearTimeout(timer);timer=setTimeout(connect,delay);
}
function connect(){
  clearTimeout(timer);
  setState(attempt?'reconnecting…':'connecting…');
  let socket;
  try{socket=new WebSocket(socketUrl());}catch(e){retry();return;}
  ws=socket;
  let pending=[],loaded=false;
  socket.onopen=()=>{
    attempt=0;setState('connected',true);
    // Messages sent while we were away: the history, then what arrived meanwhile.
    fetch('history',{cache:'no-store'}).then(r=>r.ok?r.json():[]).then(list=>{if(Array.isArray(list))list.forEach(show);})
      .catch(()=>{}).finally(()=>{loaded=true;pending.forEach(show);pending=[];});
  };
  socket.onmessage=e=>{let m;try{m=JSON.parse(e.data);}catch(err){return;}if(loaded)show(m);else pending.push(m);};
  socket.onclose=()=>{if(ws!==socket)return;ws=null;retry();};
}
form.addEventListener('submit',e=>{
  e.preventDefault();
  const text=input.value;
  if(!text.trim())return;
  if(!ws||ws.readyState!==WebSocket.OPEN){hint.textContent='Not connected right now; your message is still here.';return;}
  if(encoder.encode(text).length>MAX_BYTES){hint.textContent='That message is too long (1 MiB at most).';return;}
  ws.send(text);input.value='';hint.textContent='';
});
addEventListener('online',()=>{if(!ws){attempt=0;connect();}});
connect();
</script></body></html>
)HTML";

std::string page(std::string_view viewer) {
  std::string html = PAGE;
  size_t at = html.find("{{ME}}");
  html.replace(at, 6, htmlEscape(viewer));
  return html;
}

// ---- History: memory and the log file ----

class History {
public:
  explicit History(std::string path): path(std::move(path)) {}
  History(const History&) = delete;
  History& operator=(const History&) = delete;
  ~History() { if (fd >= 0) close(fd); }

  void load();
  void add(const std::string& json);
  void sync();
  std::string asJsonArray() const;
  size_t size() const { return lines.size(); }
  const std::string& file() const { return path; }

private:
  void remember(std::string json);
  std::string readTail();

  std::string path;
  int fd = -1;
  off_t fileSize = 0;
  bool dirty = false;               // written since the last fdatasync
  std::deque<std::string> lines;    // JSON objects, oldest first
  size_t bytes = 0;
};

void History::remember(std::string json) {
  bytes += json.size();
  lines.push_back(std::move(json));
  while (lines.size() > HISTORY_COUNT || bytes > HISTORY_BYTES) {
    bytes -= lines.front().size();
    lines.pop_front();
  }
}

// The end of the file: enough of it for the last HISTORY_COUNT lines or HISTORY_BYTES, read
// backwards, so a long-lived room's log costs nothing extra at start. May begin mid-line.
std::string History::readTail() {
  std::vector<std::string> chunks;  // newest first
  off_t pos = fileSize;
  size_t newlines = 0, got = 0;
  while (pos > 0 && newlines <= HISTORY_COUNT && got < HISTORY_BYTES + MAX_FRAME) {
    size_t n = size_t(std::min<off_t>(pos, 64 * 1024));
    std::string chunk(n, '\0');
    size_t done = 0;
    while (done < n) {
      ssize_t r = pread(fd, chunk.data() + done, n - done, pos - off_t(n) + off_t(done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      done += r;
    }
    if (done < n) {
      perror("chat: reading the history");
      break;
    }
    pos -= n;
    newlines += std::count(chunk.begin(), chunk.end(), '\n');
    got += n;
    chunks.push_back(std::move(chunk));
  }
  std::string tail;
  tail.reserve(got);
  for (auto it = chunks.rbegin(); it != chunks.rend(); ++it) tail += *it;
  if (pos > 0 || got < size_t(fileSize)) {
    // Not from the file's start: the first piece is the end of an older line.
    size_t nl = tail.find('\n');
    tail.erase(0, nl == std::string::npos ? tail.size() : nl + 1);
  }
  return tail;
}

void History::load() {
  fd = open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "chat: cannot open %s (%s); messages will not be kept\n", path.c_str(),
            strerror(errno));
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) st.st_size = 0;
  fileSize = st.st_size;
  std::string tail = readTail();
  // A write cut short (a crash mid-line, a full disk) leaves a last line without its '\n'. Cut
  // it off, or the next message would be glued to it.
  size_t end = tail.rfind('\n');
  size_t keep = end == std::string::npos ? 0 : end + 1;
  if (keep < tail.size()) {
    off_t good = fileSize - off_t(tail.size() - keep);
    if (ftruncate(fd, good) == 0) {
      fileSize = good;
    } else if (write(fd, "\n", 1) == 1) {
      fileSize++;
    }
    fprintf(stderr, "chat: dropped a torn last line from %s\n", path.c_str());
    tail.resize(keep);
  }
  size_t skipped = 0;
  for (size_t pos = 0; pos < tail.size();) {
    size_t nl = tail.find('\n', pos);
    std::string_view line(tail.data() + pos, nl - pos);
    if (validHistoryLine(line)) remember(std::string(line));
    else if (!line.empty()) skipped++;
    pos = nl + 1;
  }
  if (skipped) fprintf(stderr, "chat: skipped %zu malformed lines in %s\n", skipped, path.c_str());
}

void History::add(const std::string& json) {
  remember(json);
  if (fd < 0) return;
  std::string line = json + "\n";
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      perror("chat: writing the history");
      // Take the partial line back so the file stays one whole JSON object per line.
      if (ftruncate(fd, fileSize) != 0) perror("chat: truncating the history");
      return;
    }
    done += n;
  }
  fileSize += off_t(line.size());
  dirty = true;
}

void History::sync() {
  if (!dirty || fd < 0) return;
  if (fdatasync(fd) != 0) perror("chat: fdatasync");
  dirty = false;
}

std::string History::asJsonArray() const {
  std::string out;
  out.reserve(bytes + lines.size() + 2);
  out += '[';
  for (size_t i = 0; i < lines.size(); i++) {
    if (i) out += ',';
    out += lines[i];
  }
  out += "]";
  return out;
}

// ---- HTTP request heads ----

struct Request {
  std::string_view method, target, version;
  std::vector<std::pair<std::string_view, std::string_view>> headers;

  const std::string_view* find(std::string_view name) const {
    for (auto& h: headers) {
      if (equalsIgnoreCase(h.first, name)) return &h.second;
    }
    return nullptr;
  }
  size_t count(std::string_view name) const {
    return std::count_if(headers.begin(), headers.end(),
                         [&](auto& h) { return equalsIgnoreCase(h.first, name); });
  }
};

bool isTchar(char c) {
  return isalnum(uint8_t(c)) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// Parses a head (without its final blank line) strictly; false means 400.
bool parseHead(std::string_view head, Request& r) {
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return false;
  }
  r.method = line.substr(0, sp1);
  r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  r.version = line.substr(sp2 + 1);
  if (r.method.empty() || !std::all_of(r.method.begin(), r.method.end(), isTchar)) return false;
  if (r.target.empty() || r.target[0] != '/') return false;
  for (char c: r.target) {
    if (uint8_t(c) <= 0x20 || c == 0x7f) return false;
  }
  if (r.version != "HTTP/1.1" && r.version != "HTTP/1.0") return false;
  while (eol != std::string_view::npos) {
    size_t start = eol + 2;
    eol = head.find("\r\n", start);
    line = head.substr(start, eol == std::string_view::npos ? eol : eol - start);
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;  // also obs-fold lines
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    if (!std::all_of(name.begin(), name.end(), isTchar)) return false;
    for (char c: value) {
      if ((uint8_t(c) < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    r.headers.emplace_back(name, value);
    if (r.headers.size() > 100) return false;
  }
  return true;
}

// ---- Connections ----

using Chunk = std::shared_ptr<const std::string>;  // broadcasts share one copy

struct Client {
  int fd = -1;
  bool websocket = false;  // upgraded; otherwise HTTP/1.1 with keep-alive
  bool closing = false;    // no more input is processed: flush, then shut down and linger
  bool lingering = false;  // write side shut; reading to EOF so the peer sees no reset
  bool peerDone = false;   // EOF from the peer
  bool dead = false;       // to be closed at the end of this turn
  bool abort = false;      // ... with a reset, throwing away what the kernel still holds for it
  int64_t deadline = 0;    // monotonic ms; 0 for none
  int64_t lastProgress = 0;  // when output last moved (or was first queued)
  std::string in;
  std::deque<Chunk> out;
  size_t outOffset = 0;    // bytes of out.front() already sent
  size_t outBytes = 0;     // unsent bytes in out
  std::string name;
  chat::FrameReader frames;  // the message being received
};

std::string frame(uint8_t opcode, std::string_view payload) {
  std::string f;
  f.reserve(payload.size() + 10);
  f += char(0x80 | opcode);
  if (payload.size() < 126) {
    f += char(payload.size());
  } else if (payload.size() < 65536) {
    f += char(126);
    f += char(payload.size() >> 8);
    f += char(payload.size() & 0xff);
  } else {
    f += char(127);
    for (int i = 7; i >= 0; i--) f += char((uint64_t(payload.size()) >> (8 * i)) & 0xff);
  }
  f += payload;
  return f;
}

class Server {
public:
  Server(int listener, History& history): listener(listener), history(history) {}
  [[noreturn]] void run();

private:
  void acceptAll();
  void readFrom(Client& c);
  void process(Client& c);
  void handleHttp(Client& c);
  void handleRequest(Client& c, std::string_view head);
  void upgrade(Client& c, const Request& r);
  void handleFrames(Client& c);
  void handleControl(Client& c, uint8_t opcode, std::string_view payload);
  void post(Client& from, std::string_view text);
  void flush(Client& c);
  void respond(Client& c, const char* status, const char* type, std::string body,
               bool keepAlive, bool headOnly = false, const char* extra = "");
  void queue(Client& c, Chunk chunk, bool bounded);
  void closeWith(Client& c, uint16_t code, std::string_view reason);
  int64_t deadlineOf(const Client& c) const;

  int listener;
  History& history;
  std::vector<std::unique_ptr<Client>> clients;
  int64_t now = 0;
  int64_t acceptPausedUntil = 0;
};

void Server::queue(Client& c, Chunk chunk, bool bounded) {
  if (c.dead || chunk->empty()) return;
  if (bounded && c.outBytes + chunk->size() > MAX_QUEUED) {
    // It does not read: drop it rather than hold memory or anyone else up.
    fprintf(stderr, "chat: dropping a client with %zu bytes unread\n", c.outBytes);
    c.dead = true;
    c.abort = true;
    return;
  }
  if (c.outBytes == 0) c.lastProgress = now;
  c.outBytes += chunk->size();
  c.out.push_back(std::move(chunk));
}

void Server::respond(Client& c, const char* status, const char* type, std::string body,
                     bool keepAlive, bool headOnly, const char* extra) {
  std::string head = std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
                     "\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n" + extra +
                     (keepAlive ? "" : "Connection: close\r\n") + "\r\n";
  if (!headOnly) head += body;
  // Not bounded: a client gets one response at a time (handleHttp waits for it to drain).
  queue(c, std::make_shared<const std::string>(std::move(head)), false);
  if (!keepAlive) c.closing = true;
}

void Server::closeWith(Client& c, uint16_t code, std::string_view reason) {
  std::string payload;
  payload += char(code >> 8);
  payload += char(code & 0xff);
  payload += reason;
  queue(c, std::make_shared<const std::string>(frame(0x8, payload)), true);
  c.closing = true;
}

void Server::handleHttp(Client& c) {
  // One request at a time: the next is parsed only once the last response has gone, which
  // bounds what a pipelining client can make us hold.
  while (!c.websocket && !c.closing && !c.dead && c.outBytes == 0) {
    size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos || end > MAX_HEAD) {
      if (c.in.size() > MAX_HEAD) {
        respond(c, "431 Request Header Fields Too Large", "text/plain", "request head too large\n",
                false);
      }
      return;
    }
    std::string head = c.in.substr(0, end);
    c.in.erase(0, end + 4);
    handleRequest(c, head);
    if (!c.websocket) c.deadline = now + (c.in.empty() ? IDLE_TIMEOUT_MS : HEAD_TIMEOUT_MS);
  }
  if (c.websocket && !c.closing) handleFrames(c);  // frames sent right behind the handshake
}

void Server::handleRequest(Client& c, std::string_view head) {
  Request r;
  if (!parseHead(head, r)) {
    respond(c, "400 Bad Request", "text/plain", "malformed request\n", false);
    return;
  }
  bool http11 = r.version == "HTTP/1.1";
  const std::string_view* connection = r.find("connection");
  bool keepAlive = http11 ? !(connection && hasToken(*connection, "close"))
                          : (connection && hasToken(*connection, "keep-alive"));
  if (http11 && r.count("host") != 1) {
    respond(c, "400 Bad Request", "text/plain", "exactly one Host header is required\n", false);
    return;
  }
  // This app takes no request bodies; rather than skip one, answer and close.
  const std::string_view* length = r.find("content-length");
  bool body = r.find("transfer-encoding") != nullptr;
  if (length) {
    bool digits = !length->empty() && length->size() <= 18 &&
                  std::all_of(length->begin(), length->end(), [](char ch) { return isdigit(uint8_t(ch)); });
    if (!digits || r.count("content-length") != 1) {
      respond(c, "400 Bad Request", "text/plain", "bad Content-Length\n", false);
      return;
    }
    if (strtoull(std::string(*length).c_str(), nullptr, 10) > 0) body = true;
  }

  std::string_view path = r.target.substr(0, r.target.find_first_of("?#"));
  std::string_view route = path.substr(path.rfind('/') + 1);  // only the last segment counts
  const std::string_view* user = r.find("x-sandstorm-username");
  std::string name = user ? cleanUtf8(percentDecode(*user), MAX_NAME) : "";
  size_t first = name.find_first_not_of(' ');
  name = first == std::string::npos ? "Anonymous" : name.substr(first, name.find_last_not_of(' ') + 1 - first);
  c.name = name;

  bool get = r.method == "GET", headOnly = r.method == "HEAD";
  if (!get && !headOnly) {
    respond(c, "405 Method Not Allowed", "text/plain", "only GET and HEAD\n", false, false,
            "Allow: GET, HEAD\r\n");
  } else if (body) {
    respond(c, "400 Bad Request", "text/plain", "this app takes no request bodies\n", false);
  } else if (route == "ws") {
    upgrade(c, r);
  } else if (route == "history") {
    respond(c, "200 OK", "application/json; charset=utf-8", history.asJsonArray(), keepAlive,
            headOnly);
  } else if (route.empty()) {
    respond(c, "200 OK", "text/html; charset=utf-8", page(c.name), keepAlive, headOnly);
  } else {
    respond(c, "404 Not Found", "text/plain", "not found\n", keepAlive, headOnly);
  }
}

void Server::upgrade(Client& c, const Request& r) {
  const std::string_view* upgradeHeader = r.find("upgrade");
  const std::string_view* connection = r.find("connection");
  const std::string_view* version = r.find("sec-websocket-version");
  const std::string_view* key = r.find("sec-websocket-key");
  const char* problem = nullptr;
  if (r.method != "GET" || r.version != "HTTP/1.1") problem = "a WebSocket handshake is a GET over HTTP/1.1\n";
  else if (!upgradeHeader || !hasToken(*upgradeHeader, "websocket")) problem = "expected Upgrade: websocket\n";
  else if (!connection || !hasToken(*connection, "upgrade")) problem = "expected Connection: Upgrade\n";
  else if (!version || *version != "13" || r.count("sec-websocket-version") != 1) problem = "only WebSocket version 13 is supported\n";
  else if (!key || !isWebSocketKey(*key) || r.count("sec-websocket-key") != 1) problem = "bad Sec-WebSocket-Key\n";
  if (problem) {
    // RFC 6455 §4.4: a version we do not speak is answered with the one we do.
    respond(c, "400 Bad Request", "text/plain", problem, false, false,
            "Sec-WebSocket-Version: 13\r\n");
    return;
  }
  queue(c, std::make_shared<const std::string>(
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " + webSocketAccept(*key) + "\r\n\r\n"),
        false);
  c.websocket = true;
  c.deadline = 0;
}

void Server::handleFrames(Client& c) {
  size_t pos = 0;  // consumed bytes of c.in
  while (!c.closing && !c.dead) {
    std::string_view buf(c.in);
    buf.remove_prefix(pos);
    auto e = chat::nextFrame(c.frames, buf, MAX_MESSAGE);
    if (e.kind == chat::FrameEvent::NEED_MORE) break;
    if (e.kind == chat::FrameEvent::FAIL) { closeWith(c, e.closeCode, e.reason); break; }
    pos += e.consumed;
    if (e.kind == chat::FrameEvent::CONTROL) handleControl(c, e.opcode, e.payload);
    if (e.kind == chat::FrameEvent::MESSAGE) post(c, e.payload);
  }
  if (c.closing) c.in.clear();
  else c.in.erase(0, pos);
}

void Server::handleControl(Client& c, uint8_t opcode, std::string_view payload) {
  if (opcode == 0x9) {
    queue(c, std::make_shared<const std::string>(frame(0xA, payload)), true);
  } else if (opcode == 0x8) {
    auto reply = chat::replyToClose(payload);
    if (reply.code == 0) {  // no code given: answer likewise (§5.5.1)
      queue(c, std::make_shared<const std::string>(frame(0x8, "")), true);
      c.closing = true;
      return;
    }
    closeWith(c, reply.code, reply.reason);
  }
  // 0xA (pong): nothing to do; we send no pings of our own.
}

void Server::post(Client& from, std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return;  // nothing to show
  std::string json;
  json.reserve(text.size() + from.name.size() + 64);
  json += "{\"name\":";
  appendJsonString(json, from.name);
  json += ",\"text\":";
  appendJsonString(json, text);
  json += ",\"time\":" + std::to_string(wallMs()) + "}";
  history.add(json);
  auto chunk = std::make_shared<const std::string>(frame(0x1, json));
  for (auto& c: clients) {
    if (c->websocket && !c->closing && !c->dead) queue(*c, chunk, true);
  }
}

void Server::readFrom(Client& c) {
  static char buf[64 * 1024];
  size_t total = 0;
  while (total < READ_BUDGET && !c.dead && !c.peerDone) {
    ssize_t n = recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      total += n;
      if (c.closing || c.lingering) continue;  // nothing more is processed: discard
      if (!c.websocket && c.in.empty()) c.deadline = now + HEAD_TIMEOUT_MS;
      c.in.append(buf, n);
      // Process as we go, so a pipelined flood never piles up in c.in.
      if (c.in.size() >= MAX_HEAD || c.websocket) process(c);
    } else if (n == 0) {
      c.peerDone = true;
    } else if (errno == EINTR) {
      continue;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;  // reset by the peer, ...
      break;
    }
  }
  process(c);
}

void Server::process(Client& c) {
  if (c.dead || c.closing) return;
  if (c.websocket) handleFrames(c);
  else handleHttp(c);
}

void Server::flush(Client& c) {
  while (c.outBytes > 0 && !c.dead) {
    iovec iov[16];
    int count = 0;
    for (size_t i = 0; i < c.out.size() && count < 16; i++, count++) {
      size_t skip = i == 0 ? c.outOffset : 0;
      iov[count].iov_base = const_cast<char*>(c.out[i]->data() + skip);
      iov[count].iov_len = c.out[i]->size() - skip;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;  // EPIPE, ECONNRESET, ...
      return;
    }
    c.lastProgress = now;
    c.outBytes -= n;
    size_t left = n;
    while (left > 0) {
      size_t avail = c.out.front()->size() - c.outOffset;
      if (left < avail) {
        c.outOffset += left;
        break;
      }
      left -= avail;
      c.out.pop_front();
      c.outOffset = 0;
    }
  }
  if (c.dead || c.outBytes > 0) return;
  if (c.closing && !c.lingering) {
    // Everything said: shut our side, then read to EOF (a close() with unread input would
    // send a reset that can destroy the close frame or response before the peer reads it).
    shutdown(c.fd, SHUT_WR);
    c.lingering = true;
    c.deadline = now + LINGER_MS;
  }
  if (c.peerDone) c.dead = true;  // nothing more can arrive, nothing left to send
}

int64_t Server::deadlineOf(const Client& c) const {
  int64_t d = c.deadline;
  if (c.outBytes > 0) {
    int64_t stall = c.lastProgress + STALL_TIMEOUT_MS;
    d = d == 0 ? stall : std::min(d, stall);
  }
  return d;
}

void Server::acceptAll() {
  while (clients.size() < MAX_CLIENTS) {
    int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        perror("chat: accept");
        acceptPausedUntil = now + 100;  // poll() would report the listener again at once
      }
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // chat lines are small
    auto c = std::make_unique<Client>();
    c->fd = fd;
    c->deadline = now + HEAD_TIMEOUT_MS;
    clients.push_back(std::move(c));
  }
}

void Server::run() {
  std::vector<pollfd> fds;
  for (;;) {
    now = monotonicMs();
    int64_t next = acceptPausedUntil > now ? acceptPausedUntil : 0;
    for (auto& c: clients) {
      int64_t d = deadlineOf(*c);
      if (d != 0 && d <= now) {
        c->dead = true;
        c->abort = c->outBytes > 0;  // stalled output: nobody is reading it
      }
      if (c->dead) {
        if (c->abort) {
          // A plain close() would leave the kernel trickling the send buffer to a reader that
          // does not read; a reset frees it now.
          linger hard{1, 0};
          setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
        }
        close(c->fd);
        c->fd = -1;
      } else if (d != 0) {
        next = next == 0 ? d : std::min(next, d);
      }
    }
    clients.erase(std::remove_if(clients.begin(), clients.end(), [](auto& c) { return c->fd < 0; }),
                  clients.end());

    fds.clear();
    bool accepting = clients.size() < MAX_CLIENTS && acceptPausedUntil <= now;
    fds.push_back({listener, short(accepting ? POLLIN : 0), 0});
    for (auto& c: clients) {
      // An HTTP client with a response in flight is not read (backpressure), nor is one that
      // has already sent EOF.
      bool wantInput = !c->peerDone && (c->websocket || c->closing || c->outBytes == 0);
      fds.push_back({c->fd, short((wantInput ? POLLIN : 0) | (c->outBytes ? POLLOUT : 0)), 0});
    }
    int timeout = next == 0 ? -1 : int(std::max<int64_t>(0, next - now)) + 1;
    if (poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      perror("chat: poll");
      exit(1);
    }
    now = monotonicMs();
    size_t polled = clients.size();
    for (size_t i = 0; i < polled; i++) {
      Client& c = *clients[i];
      short revents = fds[i + 1].revents;
      if (revents & POLLIN) readFrom(c);
      else if (revents & POLLNVAL) c.dead = true;
      // POLLHUP/POLLERR without POLLIN: the flush below meets the error and drops the client.
    }
    for (size_t i = 0; i < polled; i++) {
      short revents = fds[i + 1].revents;
      Client& c = *clients[i];
      if ((revents & (POLLHUP | POLLERR)) && c.outBytes == 0 && !(revents & POLLIN)) c.dead = true;
    }
    for (bool again = true; again;) {
      // Group commit: what this turn posted is on disk before it is sent to anyone.
      history.sync();
      for (size_t i = 0; i < polled; i++) {
        if (!clients[i]->dead) flush(*clients[i]);
      }
      // An HTTP client whose response has gone may have its next request waiting.
      again = false;
      for (size_t i = 0; i < polled; i++) {
        Client& c = *clients[i];
        if (c.dead || c.websocket || c.closing || c.outBytes > 0 || c.in.empty()) continue;
        size_t before = c.in.size();
        handleHttp(c);
        if (c.in.size() != before) again = true;  // a request was consumed (c.in only shrinks)
      }
    }
    if (fds[0].revents & POLLIN) acceptAll();
  }
}

int listenOn(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 || listen(fd, 128) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 8000;
  if (argc > 1) {
    char* end = nullptr;
    long p = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || p < 1 || p > 65535) {
      fprintf(stderr, "usage: chat [PORT]   (PORT 1-65535, default 8000)\n");
      return 2;
    }
    port = int(p);
  }
  const char* varDir = getenv("CHAT_VAR_DIR");
  std::string dir = varDir && *varDir ? varDir : "/var";
  signal(SIGPIPE, SIG_IGN);

  History history(dir + "/chat.log");
  history.load();
  int listener = listenOn(port);
  if (listener < 0) {
    fprintf(stderr, "chat: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
    return 1;
  }
  fprintf(stderr, "chat: listening on 127.0.0.1:%d; %zu messages in %s\n", port, history.size(),
          history.file().c_str());
  Server server(listener, history);
  server.run();
}
