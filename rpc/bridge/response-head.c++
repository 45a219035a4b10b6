#include "rpc/bridge/response-head.h"

#include <string.h>

#include <llhttp.h>

#include "rpc/bridge/limits.h"

namespace ss::bridge {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c + ('a' - 'A')) : c; }

kj::StringPtr trimmed(kj::String& s, kj::String& storage) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  storage = kj::heapString(s.slice(b, e).begin(), e - b);
  return storage;
}

// Collects llhttp's callbacks. Fields and values may arrive in pieces, so they accumulate until
// the *_complete callback.
struct Collector {
  ResponseHead* head;
  kj::Vector<char> name;
  kj::Vector<char> value;
  bool inValue = false;

  void finishField() {
    kj::String rawValue = kj::heapString(value.begin(), value.size());
    kj::String cleanValue;
    trimmed(rawValue, cleanValue);
    head->headers.add(HeaderField{kj::heapString(name.begin(), name.size()), kj::mv(cleanValue)});
    name.clear();
    value.clear();
    inValue = false;
  }
};

Collector& collector(llhttp_t* p) { return *static_cast<Collector*>(p->data); }

int onHeaderField(llhttp_t* p, const char* at, size_t length) {
  auto& c = collector(p);
  if (c.inValue) c.finishField();
  c.name.addAll(at, at + length);
  return 0;
}

int onHeaderValue(llhttp_t* p, const char* at, size_t length) {
  auto& c = collector(p);
  c.inValue = true;
  c.value.addAll(at, at + length);
  return 0;
}

int onHeadersComplete(llhttp_t* p) {
  auto& c = collector(p);
  if (c.name.size() > 0 || c.inValue) c.finishField();
  // Stop here: the body is framed by us, never by llhttp.
  return HPE_PAUSED;
}

// Every line must end in CRLF, no bare CR or LF, no control byte but HT, no obs-fold. Returns
// the offset just past the blank line, 0 if there is none yet, or SIZE_MAX with `reason` set.
size_t scanHead(kj::ArrayPtr<const kj::byte> input, const char*& reason) {
  size_t lineStart = 0;
  size_t limit = kj::min(input.size(), limits::MAX_RESPONSE_HEAD_BYTES);
  for (size_t i = 0; i < limit; ++i) {
    kj::byte b = input[i];
    if (b == '\r') {
      if (i + 1 >= input.size()) return 0;  // need the next byte to judge
      if (input[i + 1] != '\n') {
        reason = "bare CR in response head";
        return SIZE_MAX;
      }
      if (i == lineStart) {
        if (i == 0) {
          reason = "empty status line";
          return SIZE_MAX;
        }
        return i + 2;  // blank line: end of head
      }
      ++i;  // skip the LF
      lineStart = i + 1;
      if (lineStart < input.size() && (input[lineStart] == ' ' || input[lineStart] == '\t')) {
        reason = "obsolete line folding in response head";
        return SIZE_MAX;
      }
    } else if (b == '\n') {
      reason = "bare LF in response head";
      return SIZE_MAX;
    } else if ((b < 0x20 && b != '\t') || b == 0x7f) {
      reason = "control character in response head";
      return SIZE_MAX;
    }
  }
  if (input.size() >= limits::MAX_RESPONSE_HEAD_BYTES) {
    reason = "response head larger than 64 KiB";
    return SIZE_MAX;
  }
  return 0;
}

bool parseContentLength(kj::StringPtr value, uint64_t& out) {
  // 1*DIGIT only: no sign, no spaces, no list ("5, 5" is refused rather than guessed at).
  if (value.size() == 0 || value.size() > 18) return false;
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  out = n;
  return true;
}

// Splits a comma-separated list into lowercased, trimmed, non-empty tokens.
void addTokens(kj::StringPtr value, kj::Vector<kj::String>& out) {
  size_t i = 0;
  while (i <= value.size()) {
    size_t comma = i;
    while (comma < value.size() && value[comma] != ',') ++comma;
    size_t b = i, e = comma;
    while (b < e && (value[b] == ' ' || value[b] == '\t')) ++b;
    while (e > b && (value[e - 1] == ' ' || value[e - 1] == '\t')) --e;
    if (e > b) {
      auto token = kj::heapString(value.begin() + b, e - b);
      for (char& c : token) c = lower(c);
      out.add(kj::mv(token));
    }
    i = comma + 1;
  }
}

}  // namespace

bool equalsIgnoreCase(kj::StringPtr a, kj::StringPtr b) {
  return a.size() == b.size() && strncasecmp(a.begin(), b.begin(), a.size()) == 0;
}

bool startsWithIgnoreCase(kj::StringPtr s, kj::StringPtr prefix) {
  return s.size() >= prefix.size() && strncasecmp(s.begin(), prefix.begin(), prefix.size()) == 0;
}

kj::Maybe<kj::StringPtr> ResponseHead::find(kj::StringPtr name) const {
  for (auto& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return kj::StringPtr(h.value);
  }
  return nullptr;
}

bool ResponseHead::isHopByHop(kj::StringPtr name) const {
  static constexpr const char* FIXED[] = {
      "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
      "content-length"};
  for (auto f : FIXED) {
    if (equalsIgnoreCase(name, f)) return true;
  }
  if (startsWithIgnoreCase(name, "proxy-")) return true;
  for (auto& token : connectionTokens) {
    if (equalsIgnoreCase(name, token)) return true;
  }
  return false;
}

HeadParse parseResponseHead(kj::ArrayPtr<const kj::byte> input, ResponseHead& head) {
  HeadParse result;
  size_t end = scanHead(input, result.reason);
  if (end == SIZE_MAX) {
    result.kind = HeadParse::ERROR;
    return result;
  }
  if (end == 0) return result;  // INCOMPLETE

  head = ResponseHead();
  Collector c{&head, {}, {}, false};
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_header_field = onHeaderField;
  settings.on_header_value = onHeaderValue;
  settings.on_headers_complete = onHeadersComplete;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_RESPONSE, &settings);
  parser.data = &c;
  auto err = llhttp_execute(&parser, reinterpret_cast<const char*>(input.begin()), end);
  if (err != HPE_PAUSED) {
    result.kind = HeadParse::ERROR;
    result.reason = err == HPE_OK ? "response head did not end" : llhttp_get_error_reason(&parser);
    return result;
  }
  if (parser.http_major != 1 || parser.http_minor > 1) {
    result.kind = HeadParse::ERROR;
    result.reason = "app answered with an HTTP version other than 1.0 or 1.1";
    return result;
  }
  head.status = parser.status_code;
  head.httpMinor = parser.http_minor;
  if (head.status < 100 || head.status > 999) {
    result.kind = HeadParse::ERROR;
    result.reason = "invalid status code";
    return result;
  }

  bool sawClose = false, sawKeepAlive = false;
  for (auto& h : head.headers) {
    if (equalsIgnoreCase(h.name, "content-length")) {
      uint64_t n;
      if (!parseContentLength(h.value, n) || head.contentLength != nullptr) {
        // llhttp already refuses duplicates; this also refuses lists and junk.
        result.kind = HeadParse::ERROR;
        result.reason = "invalid Content-Length";
        return result;
      }
      head.contentLength = n;
    } else if (equalsIgnoreCase(h.name, "transfer-encoding")) {
      kj::Vector<kj::String> codings;
      addTokens(h.value, codings);
      head.transferEncoding = true;
      // Only the last coding decides framing (RFC 9112 §6.3): "gzip, chunked" is chunked.
      head.chunked = codings.size() > 0 && codings.back() == "chunked";
    } else if (equalsIgnoreCase(h.name, "connection")) {
      addTokens(h.value, head.connectionTokens);
    }
  }
  for (auto& token : head.connectionTokens) {
    if (token == "close") sawClose = true;
    if (token == "keep-alive") sawKeepAlive = true;
  }
  head.keepAlive = head.httpMinor == 1 ? !sawClose : (sawKeepAlive && !sawClose);
  if (head.transferEncoding && head.contentLength != nullptr) {
    // llhttp refuses this for chunked; for other codings Transfer-Encoding wins, and the
    // connection's framing is too doubtful to reuse.
    head.contentLength = nullptr;
    head.keepAlive = false;
  }

  result.kind = HeadParse::COMPLETE;
  result.headBytes = end;
  return result;
}

BodyFraming bodyFraming(const ResponseHead& head, bool requestWasHead) {
  if (requestWasHead || head.status < 200 || head.status == 204 || head.status == 304) {
    return BodyFraming::NONE;
  }
  if (head.transferEncoding) {
    return head.chunked ? BodyFraming::CHUNKED : BodyFraming::UNTIL_CLOSE;
  }
  if (head.contentLength != nullptr) return BodyFraming::LENGTH;
  return BodyFraming::UNTIL_CLOSE;
}

}  // namespace ss::bridge
