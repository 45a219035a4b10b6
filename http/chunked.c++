#include "http/chunked.h"

#include <algorithm>

#include "base/limits.h"

namespace ss::http {

namespace {

// Chunk sizes above this are refused. 2^60 bytes is far beyond any body we accept, and the bound
// keeps `remaining * 16 + digit` from overflowing, which is how "FFFFFFFFFFFFFFFFFF" and friends
// wrap around to small sizes in careless parsers.
constexpr uint64_t MAX_CHUNK_SIZE = uint64_t(1) << 60;

// Trailer fields follow the header rules, so they get the header limits.
constexpr size_t MAX_TRAILER_LINE = limits::MAX_HEADER_LINE;
constexpr size_t MAX_TRAILER_BYTES = limits::MAX_HEAD_BYTES;

inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline bool isWs(char c) { return c == ' ' || c == '\t'; }

inline bool isTchar(char c) {
  // RFC 9110 §5.6.2.
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// field-vchar / SP / HTAB (RFC 9110 §5.5): everything but controls and DEL; 0x80+ is obs-text.
inline bool isFieldValueChar(char c) {
  uint8_t u = static_cast<uint8_t>(c);
  return c == '\t' || (u >= 0x20 && u != 0x7f);
}

// qdtext (RFC 9110 §5.6.4): field-value characters except '"' and '\'.
inline bool isQdtext(char c) { return isFieldValueChar(c) && c != '"' && c != '\\'; }

}  // namespace

ChunkedDecoder::Step ChunkedDecoder::feedImpl(std::string_view input, void* ctx,
                                              void (*onData)(void*, std::string_view)) {
  if (phase == Phase::DONE) return {State::DONE, 0};
  if (phase == Phase::FAILED) return {State::ERROR, 0, failure};

  const char* s = input.data();
  size_t n = input.size();
  size_t i = 0;
  auto fail = [&](const char* why) {
    phase = Phase::FAILED;
    failure = why;
    return Step{State::ERROR, i, why};
  };

  while (i < n) {
    if (phase == Phase::DATA) {
      // The only bulk path: data bytes are counted, never inspected.
      size_t take = static_cast<size_t>(std::min<uint64_t>(remaining, n - i));
      onData(ctx, std::string_view(s + i, take));
      remaining -= take;
      total += take;
      i += take;
      if (remaining == 0) phase = Phase::DATA_CR;
      continue;
    }

    char c = s[i];
    if (phase <= Phase::EXT_AFTER_VALUE) {
      // A chunk line: the bound covers size and extensions (Node's CVE-2024-22019 was an
      // unbounded extension).
      if (c != '\r' && ++lineBytes > limits::MAX_CHUNK_LINE) return fail("chunk line too long");
    } else if (phase >= Phase::TRAILER_START && phase <= Phase::FINAL_LF) {
      if (++trailerBytes > MAX_TRAILER_BYTES) return fail("trailer section too large");
      if (c != '\r' && c != '\n' && ++lineBytes > MAX_TRAILER_LINE) {
        return fail("trailer field too long");
      }
    }

    switch (phase) {
      case Phase::SIZE: {
        int digit = hexValue(c);
        if (digit >= 0) {
          // Checked before shifting, so the shift cannot overflow.
          if (remaining > (MAX_CHUNK_SIZE >> 4)) return fail("chunk size too large");
          remaining = remaining * 16 + static_cast<uint64_t>(digit);
          if (remaining > MAX_CHUNK_SIZE) return fail("chunk size too large");
          sawDigit = true;
          break;
        }
        if (!sawDigit) return fail("invalid chunk size");
        if (c == '\r') {
          phase = Phase::SIZE_LF;
        } else if (c == ';') {
          phase = Phase::EXT_NAME_START;
        } else if (isWs(c)) {
          phase = Phase::SIZE_WS;
        } else {
          return fail("invalid chunk size");
        }
        break;
      }
      case Phase::SIZE_WS:
        // chunk-ext = *( BWS ";" ... ): whitespace after the size must lead to an extension,
        // so "1 \r\n" is refused.
        if (c == ';') {
          phase = Phase::EXT_NAME_START;
        } else if (!isWs(c)) {
          return fail("invalid chunk size");
        }
        break;
      case Phase::EXT_NAME_START:
        if (isTchar(c)) {
          phase = Phase::EXT_NAME;
        } else if (!isWs(c)) {
          return fail("invalid chunk extension");
        }
        break;
      case Phase::EXT_NAME:
      case Phase::EXT_AFTER_NAME:
        if (phase == Phase::EXT_NAME && isTchar(c)) break;
        if (isWs(c)) {
          phase = Phase::EXT_AFTER_NAME;
        } else if (c == '=') {
          phase = Phase::EXT_VALUE_START;
        } else if (c == ';') {
          phase = Phase::EXT_NAME_START;
        } else if (c == '\r') {
          phase = Phase::SIZE_LF;
        } else {
          return fail("invalid chunk extension");
        }
        break;
      case Phase::EXT_VALUE_START:
        if (c == '"') {
          phase = Phase::EXT_QUOTED;
        } else if (isTchar(c)) {
          phase = Phase::EXT_TOKEN;
        } else if (!isWs(c)) {
          return fail("invalid chunk extension");
        }
        break;
      case Phase::EXT_QUOTED:
        if (c == '"') {
          phase = Phase::EXT_AFTER_VALUE;
        } else if (c == '\\') {
          phase = Phase::EXT_QUOTED_PAIR;
        } else if (!isQdtext(c)) {
          return fail("invalid chunk extension");
        }
        break;
      case Phase::EXT_QUOTED_PAIR:
        if (!isFieldValueChar(c)) return fail("invalid chunk extension");
        phase = Phase::EXT_QUOTED;
        break;
      case Phase::EXT_TOKEN:
      case Phase::EXT_AFTER_VALUE:
        if (phase == Phase::EXT_TOKEN && isTchar(c)) break;
        if (isWs(c)) {
          phase = Phase::EXT_AFTER_VALUE;
        } else if (c == ';') {
          phase = Phase::EXT_NAME_START;
        } else if (c == '\r') {
          phase = Phase::SIZE_LF;
        } else {
          return fail("invalid chunk extension");
        }
        break;
      case Phase::SIZE_LF:
        // "\rX" must not end a line: llhttp 8.1.0 accepts it (HTTP Garden "Node.js bug 2").
        if (c != '\n') return fail("bare CR in chunk line");
        lineBytes = 0;
        sawDigit = false;
        phase = remaining == 0 ? Phase::TRAILER_START : Phase::DATA;
        break;
      case Phase::DATA:
        break;  // handled above
      case Phase::DATA_CR:
        // llhttp 8.1.0 skips these two bytes unchecked, so "1\r\nAXX0\r\n\r\n" smuggles.
        if (c != '\r') return fail("missing CRLF after chunk data");
        phase = Phase::DATA_LF;
        break;
      case Phase::DATA_LF:
        if (c != '\n') return fail("missing CRLF after chunk data");
        phase = Phase::SIZE;
        break;
      case Phase::TRAILER_START:
        if (c == '\r') {
          phase = Phase::FINAL_LF;
        } else if (isWs(c)) {
          return fail("obs-fold in trailer");
        } else if (c == ':') {
          return fail("empty trailer field name");
        } else if (isTchar(c)) {
          phase = Phase::TRAILER_NAME;
        } else {
          return fail("invalid trailer field");
        }
        break;
      case Phase::TRAILER_NAME:
        if (c == ':') {
          phase = Phase::TRAILER_VALUE;
        } else if (!isTchar(c)) {
          return fail("invalid trailer field");
        }
        break;
      case Phase::TRAILER_VALUE:
        if (c == '\r') {
          phase = Phase::TRAILER_LF;
        } else if (!isFieldValueChar(c)) {
          return fail("invalid trailer field");
        }
        break;
      case Phase::TRAILER_LF:
        if (c != '\n') return fail("bare CR in trailer");
        lineBytes = 0;
        phase = Phase::TRAILER_START;
        break;
      case Phase::FINAL_LF:
        if (c != '\n') return fail("bare CR in trailer");
        phase = Phase::DONE;
        return {State::DONE, i + 1};
      case Phase::DONE:
      case Phase::FAILED:
        break;  // returned on entry
    }
    i++;
  }
  return {State::MORE, n};
}

}  // namespace ss::http
