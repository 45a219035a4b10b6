#include "http/head-parser.h"

#include <llhttp.h>
#include <string.h>

#include <algorithm>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ss::http {

namespace {

using limits::MAX_HEAD_BYTES;
using limits::MAX_HEADER_COUNT;
using limits::MAX_HEADER_LINE;
using limits::MAX_REQUEST_LINE;

HeadResult fail(uint16_t status, const char* reason) {
  HeadResult result;
  result.kind = HeadResult::ERROR;
  result.status = status;
  result.reason = reason;
  return result;
}

// ---- Character classes ---------------------------------------------------------------------

struct CharTable {
  bool tchar[256] = {};    // RFC 9110 §5.6.2 token characters
  bool hostChar[256] = {}; // what we accept in a Host name (see validHost())
};

constexpr CharTable makeTables() {
  CharTable t;
  for (int c = '0'; c <= '9'; c++) t.tchar[c] = t.hostChar[c] = true;
  for (int c = 'a'; c <= 'z'; c++) t.tchar[c] = t.hostChar[c] = true;
  for (int c = 'A'; c <= 'Z'; c++) t.tchar[c] = t.hostChar[c] = true;
  for (char c: std::string_view("!#$%&'*+-.^_`|~")) t.tchar[static_cast<uint8_t>(c)] = true;
  t.hostChar[static_cast<uint8_t>('-')] = true;
  t.hostChar[static_cast<uint8_t>('.')] = true;
  t.hostChar[static_cast<uint8_t>('_')] = true;
  return t;
}

constexpr CharTable TABLES = makeTables();

inline bool isTchar(char c) { return TABLES.tchar[static_cast<uint8_t>(c)]; }
inline bool isDigit(char c) { return c >= '0' && c <= '9'; }
inline bool isOws(char c) { return c == ' ' || c == '\t'; }
inline bool isControl(uint8_t c) { return c < 0x20 || c == 0x7f; }

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c: s) {
    if (!isTchar(c)) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  size_t begin = 0;
  size_t end = s.size();
  while (begin < end && isOws(s[begin])) begin++;
  while (end > begin && isOws(s[end - 1])) end--;
  return s.substr(begin, end - begin);
}

// First byte in [p, end) that is a control character (< 0x20 or DEL), or `end`. Every line of a
// head ends at the first CR, so this one scan finds the line end and every forbidden byte (bare
// CR, bare LF, NUL, other controls) at once. HT is a control too; callers decide about it.
const char* findControl(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i del = _mm_set1_epi8(0x7f);
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // max(v, 0x20) == v exactly when v >= 0x20 (unsigned), so 0x80+ bytes count as printable.
    int printable = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, space), v));
    int mask = (~printable & 0xffff) | _mm_movemask_epi8(_mm_cmpeq_epi8(v, del));
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  while (p < end && !isControl(static_cast<uint8_t>(*p))) p++;
  return p;
}

bool hasNonAscii(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
#if defined(__SSE2__)
  while (end - p >= 16) {
    if (_mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))) != 0) return true;
    p += 16;
  }
#endif
  for (; p < end; p++) {
    if (static_cast<uint8_t>(*p) >= 0x80) return true;
  }
  return false;
}

// ---- Raw scan (before llhttp) ----------------------------------------------------------------

enum class LineScan : uint8_t { LINE, INCOMPLETE, TOO_LONG, HEAD_TOO_BIG, BARE_CR, BARE_LF,
                                 TAB, CONTROL };

// Finds the CRLF ending the line that starts at `start`, looking at no more than `maxLine`
// content bytes and never past MAX_HEAD_BYTES of input, so an over-long line or head is
// reported as soon as the limit is crossed rather than when (if ever) its end arrives.
LineScan scanLine(const char* s, size_t n, size_t start, size_t maxLine, bool allowTab,
                  size_t& cr) {
  if (start >= MAX_HEAD_BYTES) return LineScan::HEAD_TOO_BIG;
  size_t lineCap = start + maxLine + 1;  // a CR here still ends a line of exactly maxLine
  size_t window = std::min({n, lineCap, MAX_HEAD_BYTES});
  size_t i = start;
  for (;;) {
    i = findControl(s + i, s + window) - s;
    if (i == window) {
      if (window == lineCap) return LineScan::TOO_LONG;
      if (window == MAX_HEAD_BYTES) return LineScan::HEAD_TOO_BIG;
      return LineScan::INCOMPLETE;
    }
    char c = s[i];
    if (c == '\r') break;
    if (c == '\n') return LineScan::BARE_LF;
    if (c != '\t') return LineScan::CONTROL;
    if (!allowTab) return LineScan::TAB;
    i++;
  }
  if (i + 2 > MAX_HEAD_BYTES) return LineScan::HEAD_TOO_BIG;
  if (i + 1 == n) return LineScan::INCOMPLETE;
  if (s[i + 1] != '\n') return LineScan::BARE_CR;
  cr = i;
  return LineScan::LINE;
}

HeadResult lineError(LineScan scan, uint16_t tooLongStatus, const char* tooLongReason) {
  switch (scan) {
    case LineScan::LINE:
    case LineScan::INCOMPLETE:
      return {};
    case LineScan::TOO_LONG:
      return fail(tooLongStatus, tooLongReason);
    case LineScan::HEAD_TOO_BIG:
      return fail(431, "request head too large");
    case LineScan::BARE_CR:
      return fail(400, "bare CR in head");
    case LineScan::BARE_LF:
      return fail(400, "bare LF in head");
    case LineScan::TAB:
      return fail(400, "tab in request line");
    case LineScan::CONTROL:
      return fail(400, "control character in head");
  }
  return fail(400, "bad head");
}

// Splits "method SP target SP HTTP/x.y" ourselves, before llhttp, for three reasons: the
// HTTP/0.9 form ("GET /") must be refused, which llhttp 8.1.0 accepts; an unsupported version
// deserves 505 rather than 400; and the split lets us check that llhttp saw the same target.
HeadResult checkRequestLine(std::string_view line, Request& request) {
  const char* sp1 = static_cast<const char*>(memchr(line.data(), ' ', line.size()));
  if (sp1 == nullptr) return fail(400, "malformed request line");
  const char* sp2 = static_cast<const char*>(memrchr(line.data(), ' ', line.size()));
  if (sp1 == sp2) return fail(400, "HTTP/0.9 request line");
  if (sp1 == line.data()) return fail(400, "malformed request line");
  if (sp2 == sp1 + 1 || memchr(sp1 + 1, ' ', sp2 - sp1 - 1) != nullptr) {
    return fail(400, "malformed request line");
  }
  request.method = std::string_view(line.data(), sp1 - line.data());
  request.target = std::string_view(sp1 + 1, sp2 - sp1 - 1);
  // The target is VCHARs only (RFC 9112 §3.2; controls and spaces were refused by the scan).
  // llhttp 8.1.0 lets raw 0x80+ bytes and a "#fragment" through; whatever maps paths later
  // should never have to wonder about either.
  if (hasNonAscii(request.target)) return fail(400, "non-ASCII byte in request target");
  if (request.target.find('#') != std::string_view::npos) {
    return fail(400, "fragment in request target");
  }

  std::string_view version(sp2 + 1, line.data() + line.size() - (sp2 + 1));
  if (version == "HTTP/1.1") {
    request.versionMinor = 1;
  } else if (version == "HTTP/1.0") {
    request.versionMinor = 0;
  } else {
    // HTTP/ 1*DIGIT "." 1*DIGIT is a version, just not ours; anything else is garbage.
    if (version.substr(0, 5) != "HTTP/") return fail(400, "malformed HTTP version");
    std::string_view number = version.substr(5);
    size_t dot = number.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == number.size()) {
      return fail(400, "malformed HTTP version");
    }
    for (size_t i = 0; i < number.size(); i++) {
      if (i != dot && !isDigit(number[i])) return fail(400, "malformed HTTP version");
    }
    return fail(505, "HTTP version not supported");
  }
  return {};
}

// ---- llhttp ------------------------------------------------------------------------------------

// Spans from llhttp's callbacks. With one contiguous buffer each span arrives in one piece, but
// llhttp may split a span at any byte, so pieces are joined (they are always adjacent).
struct Collector {
  Request* request;
  std::string_view url;
  bool inField = false;
};

void extend(std::string_view& span, const char* at, size_t length) {
  if (span.data() == nullptr) {
    span = std::string_view(at, length);
  } else {
    span = std::string_view(span.data(), at + length - span.data());
  }
}

int onUrl(llhttp_t* parser, const char* at, size_t length) {
  extend(static_cast<Collector*>(parser->data)->url, at, length);
  return 0;
}

int onHeaderField(llhttp_t* parser, const char* at, size_t length) {
  auto& collector = *static_cast<Collector*>(parser->data);
  Request& request = *collector.request;
  if (!collector.inField) {
    // The raw scan caps field lines at MAX_HEADER_COUNT, so this is only a safety net.
    if (request.headerCount == MAX_HEADER_COUNT) return -1;
    request.headers[request.headerCount++] = Header{};
    collector.inField = true;
  }
  extend(request.headers[request.headerCount - 1].name, at, length);
  return 0;
}

int onHeaderFieldComplete(llhttp_t* parser) {
  static_cast<Collector*>(parser->data)->inField = false;
  return 0;
}

int onHeaderValue(llhttp_t* parser, const char* at, size_t length) {
  Request& request = *static_cast<Collector*>(parser->data)->request;
  if (request.headerCount == 0) return -1;
  extend(request.headers[request.headerCount - 1].value, at, length);
  return 0;
}

int onHeadersComplete(llhttp_t*) {
  // Stop here: llhttp never sees or interprets body bytes; framing is decided by us.
  return HPE_PAUSED;
}

constexpr llhttp_settings_t SETTINGS = {
  .on_url = onUrl,
  .on_header_field = onHeaderField,
  .on_header_value = onHeaderValue,
  .on_headers_complete = onHeadersComplete,
  .on_header_field_complete = onHeaderFieldComplete,
};

HeadResult runLlhttp(const char* head, size_t length, Request& request, std::string_view target) {
  // One parser per thread, reset per head: llhttp_init() is not needed again, and a fresh
  // llhttp_t per call would cost a ~100-byte memset plus setup we can skip.
  static thread_local llhttp_t parser;
  static thread_local bool initialized = false;
  if (!initialized) {
    llhttp_init(&parser, HTTP_REQUEST, &SETTINGS);
    initialized = true;
  } else {
    llhttp_reset(&parser);
  }
  // No llhttp_set_lenient_*() ever: each lenient flag re-opens a smuggling vector.
  Collector collector{&request, {}};
  parser.data = &collector;
  llhttp_errno_t err = llhttp_execute(&parser, head, length);
  parser.data = nullptr;

  switch (err) {
    case HPE_PAUSED:
    case HPE_PAUSED_UPGRADE:
      break;
    case HPE_OK:
      // llhttp wants more bytes although our scan saw CRLFCRLF: the two disagree on where the
      // head ends, which is exactly what smuggling exploits.
      return fail(400, "head framing mismatch");
    case HPE_INVALID_VERSION:
      return fail(505, "HTTP version not supported");
    case HPE_INVALID_METHOD:
      // A well-formed method llhttp does not know is "not implemented" (RFC 9110 §9.1).
      if (isToken(request.method)) return fail(501, "method not implemented");
      return fail(400, "invalid method");
    default:
      return fail(400, llhttp_get_error_reason(&parser));
  }
  if (llhttp_get_error_pos(&parser) != head + length) return fail(400, "head framing mismatch");
  if (collector.url.data() != target.data() || collector.url.size() != target.size()) {
    return fail(400, "request line mismatch");
  }
  if (parser.http_major != 1 || parser.http_minor != request.versionMinor) {
    return fail(400, "request line mismatch");
  }
  return {};
}

// ---- Semantic checks (after llhttp) -------------------------------------------------------------

bool parseContentLength(std::string_view value, uint64_t& out) {
  // 1*DIGIT only: no sign, no "0x", no list ("1, 1"). Leading zeros are decimal (RFC 9110 §8.6).
  // 19 digits always fit in uint64_t; nobody sends a larger body to us anyway.
  if (value.empty() || value.size() > 19) return false;
  uint64_t n = 0;
  for (char c: value) {
    if (!isDigit(c)) return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  out = n;
  return true;
}

bool validPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  uint32_t n = 0;
  for (char c: port) {
    if (!isDigit(c)) return false;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return n <= 65535;
}

// RFC 9112 §3.2 Host = uri-host [ ":" port ]. We accept DNS-style names and IPv4 (letters,
// digits, '-', '.', '_'), or a bracketed IPv6 literal, and a numeric port. The RFC's reg-name
// also allows sub-delims and %-escapes; no browser sends them, and every extra character here
// is one more that host routing and cookie scoping would have to get right.
bool validHost(std::string_view host) {
  if (host.empty()) return false;
  std::string_view port;
  bool hasPort = false;
  if (host[0] == '[') {
    size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c: host.substr(1, close - 1)) {
      bool hex = isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      if (!hex && c != ':' && c != '.') return false;
    }
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      hasPort = true;
      port = rest.substr(1);
    }
  } else {
    size_t colon = host.find(':');
    std::string_view name = host.substr(0, colon);
    // 253 is the longest DNS name; anything longer is an attempt, not a host.
    if (name.empty() || name.size() > 253) return false;
    for (char c: name) {
      if (!TABLES.hostChar[static_cast<uint8_t>(c)]) return false;
    }
    if (colon != std::string_view::npos) {
      hasPort = true;
      port = host.substr(colon + 1);
    }
  }
  return !hasPort || validPort(port);
}

// origin-form, "*" for OPTIONS, or absolute-form naming this very Host (we are not a proxy, so
// an absolute URL for another authority would let a request reach a host it did not name).
HeadResult checkTarget(const Request& request) {
  std::string_view target = request.target;
  if (target[0] == '/') return {};
  if (target == "*") {
    if (request.method == "OPTIONS") return {};
    return fail(400, "asterisk-form target without OPTIONS");
  }
  size_t schemeEnd = target.find("://");
  if (schemeEnd == std::string_view::npos) return fail(400, "invalid request target");
  std::string_view scheme = target.substr(0, schemeEnd);
  if (!equalsIgnoreCase(scheme, "http") && !equalsIgnoreCase(scheme, "https")) {
    return fail(400, "invalid request target");
  }
  std::string_view rest = target.substr(schemeEnd + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (!equalsIgnoreCase(authority, request.host)) {
    return fail(400, "absolute-form authority differs from Host");
  }
  return {};
}

struct HeaderFacts {
  const Header* host = nullptr;
  const Header* contentLength = nullptr;
  const Header* transferEncoding = nullptr;
  const Header* upgrade = nullptr;
  uint8_t hostCount = 0;
  uint8_t contentLengthCount = 0;
  uint8_t transferEncodingCount = 0;
  uint8_t upgradeCount = 0;
  bool connectionClose = false;
  bool connectionKeepAlive = false;
  bool connectionUpgrade = false;
  bool expectContinue = false;
};

// One pass over the headers, dispatching on the name's length first so that most names cost
// one integer compare.
HeaderFacts collectFacts(Request& request) {
  HeaderFacts facts;
  for (size_t i = 0; i < request.headerCount; i++) {
    Header& header = request.headers[i];
    header.value = trim(header.value);
    std::string_view name = header.name;
    switch (name.size()) {
      case 4:
        if (equalsIgnoreCase(name, "host")) {
          facts.host = &header;
          facts.hostCount++;
        }
        break;
      case 6:
        if (equalsIgnoreCase(name, "expect") && equalsIgnoreCase(header.value, "100-continue")) {
          facts.expectContinue = true;
        }
        break;
      case 7:
        if (equalsIgnoreCase(name, "upgrade")) {
          facts.upgrade = &header;
          facts.upgradeCount++;
        }
        break;
      case 10:
        if (equalsIgnoreCase(name, "connection")) {
          facts.connectionClose |= hasToken(header.value, "close");
          facts.connectionKeepAlive |= hasToken(header.value, "keep-alive");
          facts.connectionUpgrade |= hasToken(header.value, "upgrade");
        }
        break;
      case 14:
        if (equalsIgnoreCase(name, "content-length")) {
          facts.contentLength = &header;
          facts.contentLengthCount++;
        }
        break;
      case 17:
        if (equalsIgnoreCase(name, "transfer-encoding")) {
          facts.transferEncoding = &header;
          facts.transferEncodingCount++;
        }
        break;
      default:
        break;
    }
  }
  return facts;
}

HeadResult checkSemantics(Request& request) {
  if (request.method == "CONNECT") return fail(400, "CONNECT not supported");

  // llhttp 8.1.0 accepts SP inside a field name ("Foo bar: 1") and before the colon
  // ("Transfer-Encoding : chunked"), keeping the space in the name (found by tests/fuzz
  // http-request). Such a header would slip past our framing checks and be relayed to the app,
  // whose server might read it as the real thing: RFC 9112 §5.1 says reject.
  for (size_t i = 0; i < request.headerCount; i++) {
    for (char c: request.headers[i].name) {
      if (!isTchar(c)) return fail(400, "invalid character in a field name");
    }
  }

  HeaderFacts facts = collectFacts(request);

  if (facts.hostCount == 0) return fail(400, "missing Host");
  if (facts.hostCount > 1) return fail(400, "duplicate Host");
  if (!validHost(facts.host->value)) return fail(400, "invalid Host");
  request.host = facts.host->value;

  // Body framing (RFC 9112 §6.1-6.3): any ambiguity is a 400, never a guess.
  if (facts.transferEncodingCount > 0) {
    if (request.versionMinor == 0) return fail(400, "Transfer-Encoding on HTTP/1.0");
    if (facts.transferEncodingCount > 1) return fail(400, "duplicate Transfer-Encoding");
    if (facts.contentLengthCount > 0) {
      return fail(400, "Content-Length with Transfer-Encoding");
    }
    if (!equalsIgnoreCase(facts.transferEncoding->value, "chunked")) {
      return fail(400, "unsupported Transfer-Encoding");
    }
    request.framing = BodyFraming::CHUNKED;
  } else if (facts.contentLengthCount > 0) {
    // Even two equal values are refused: RFC 9110 allows merging them, but a peer that does
    // not merge would frame differently.
    if (facts.contentLengthCount > 1) return fail(400, "duplicate Content-Length");
    if (!parseContentLength(facts.contentLength->value, request.contentLength)) {
      return fail(400, "invalid Content-Length");
    }
    if (request.contentLength > 0) request.framing = BodyFraming::LENGTH;
  }

  HeadResult target = checkTarget(request);
  if (target.kind == HeadResult::ERROR) return target;

  // Only a websocket upgrade on GET is honoured. Anything else (h2c above all) is refused
  // outright rather than ignored, so that no proxy in front of or behind us can be talked
  // into switching protocols on a connection we still parse as HTTP/1.1.
  if (facts.upgradeCount > 0) {
    if (facts.upgradeCount > 1 || !equalsIgnoreCase(facts.upgrade->value, "websocket") ||
        !request.isGet() || request.versionMinor != 1) {
      return fail(400, "unsupported Upgrade");
    }
    request.websocketUpgrade = facts.connectionUpgrade;
  }

  if (request.versionMinor == 1) {
    request.keepAlive = !facts.connectionClose;
    // RFC 9110 §10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request.
    request.expectContinue = facts.expectContinue;
  } else {
    request.keepAlive = facts.connectionKeepAlive && !facts.connectionClose;
  }
  return {};
}

void resetRequest(Request& request) {
  // Not `request = {}`: that would clear all MAX_HEADER_COUNT headers (3 KiB) on every request.
  request.method = {};
  request.target = {};
  request.versionMinor = 1;
  request.host = {};
  request.headerCount = 0;
  request.framing = BodyFraming::NONE;
  request.contentLength = 0;
  request.keepAlive = true;
  request.expectContinue = false;
  request.websocketUpgrade = false;
}

}  // namespace

HeadResult parseHead(std::string_view input, Request& request) {
  const char* s = input.data();
  size_t n = input.size();
  resetRequest(request);

  // Empty lines before the request line (RFC 9112 §2.2). They count towards MAX_HEAD_BYTES, so
  // an endless stream of CRLFs ends in a 431 instead of an endless read.
  size_t pos = 0;
  while (n - pos >= 2 && s[pos] == '\r' && s[pos + 1] == '\n') pos += 2;
  size_t requestLine = pos;

  size_t cr = 0;
  LineScan scan = scanLine(s, n, pos, MAX_REQUEST_LINE, /*allowTab=*/false, cr);
  if (scan != LineScan::LINE) {
    if (scan == LineScan::INCOMPLETE) return {};
    return lineError(scan, 414, "request line too long");
  }
  HeadResult result = checkRequestLine(std::string_view(s + pos, cr - pos), request);
  if (result.kind == HeadResult::ERROR) return result;

  size_t fields = 0;
  for (;;) {
    pos = cr + 2;
    if (pos < n) {
      // Checked on the first byte so the error comes before the rest of the line does.
      char first = s[pos];
      if (first == ' ' || first == '\t') return fail(400, "obs-fold or whitespace before field");
      if (first == ':') return fail(400, "empty field name");
      if (first != '\r' && fields == MAX_HEADER_COUNT) return fail(431, "too many header fields");
    }
    scan = scanLine(s, n, pos, MAX_HEADER_LINE, /*allowTab=*/true, cr);
    if (scan != LineScan::LINE) {
      if (scan == LineScan::INCOMPLETE) return {};
      return lineError(scan, 431, "header field too long");
    }
    if (cr == pos) break;  // the empty line ending the head
    fields++;
  }
  size_t headBytes = cr + 2;

  result = runLlhttp(s + requestLine, headBytes - requestLine, request, request.target);
  if (result.kind == HeadResult::ERROR) return result;
  result = checkSemantics(request);
  if (result.kind == HeadResult::ERROR) return result;

  result.kind = HeadResult::COMPLETE;
  result.headBytes = headBytes;
  return result;
}

}  // namespace ss::http
