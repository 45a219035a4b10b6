// Strict parsing of the app's HTTP/1.x response head, and how its body is framed.
//
// The app is untrusted: what it sends becomes Text in an RPC message that the platform turns
// back into HTTP for a browser. So the head is bounded (limits::MAX_RESPONSE_HEAD_BYTES), every
// line must end in CRLF, and no control byte but HT may appear (a bare CR or LF in a header
// value would let the app inject headers, or split the browser's response). llhttp (response
// mode, no lenient flags) then tokenises the head, and rejects duplicate Content-Length and
// Content-Length together with chunked; body framing is ours.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <kj/string.h>
#include <kj/vector.h>

namespace ss::bridge {

struct HeaderField {
  kj::String name;   // as the app spelled it
  kj::String value;  // leading/trailing whitespace removed
};

enum class BodyFraming : uint8_t {
  NONE,         // HEAD, 1xx, 204, 304: no body, whatever the headers say
  LENGTH,       // Content-Length
  CHUNKED,      // Transfer-Encoding ending in chunked
  UNTIL_CLOSE,  // neither: the body ends when the app closes the connection
};

struct ResponseHead {
  uint16_t status = 0;
  uint8_t httpMinor = 1;
  kj::Vector<HeaderField> headers;
  kj::Maybe<uint64_t> contentLength;
  bool transferEncoding = false;
  bool chunked = false;         // Transfer-Encoding's last coding is chunked
  bool keepAlive = true;        // the app allows another request on this connection
  kj::Vector<kj::String> connectionTokens;  // lowercased names listed in Connection

  kj::Maybe<kj::StringPtr> find(kj::StringPtr name) const;
  // The first header with this name (case-insensitive).

  bool isHopByHop(kj::StringPtr name) const;
  // True for headers that describe this connection, not the message, and so must not be
  // relayed: Connection, Keep-Alive, Transfer-Encoding, Proxy-*, TE, Trailer, Upgrade, any name
  // listed in Connection; and Content-Length, which travels as Response.bodyLength instead.
};

struct HeadParse {
  enum Kind : uint8_t { INCOMPLETE, COMPLETE, ERROR };
  Kind kind = INCOMPLETE;
  size_t headBytes = 0;      // COMPLETE: bytes up to and including the blank line
  const char* reason = "";   // ERROR: why, for the serverError text and the grain log
};

HeadParse parseResponseHead(kj::ArrayPtr<const kj::byte> input, ResponseHead& head);
// Call again with more input after INCOMPLETE. ERROR once the head would exceed
// limits::MAX_RESPONSE_HEAD_BYTES.

BodyFraming bodyFraming(const ResponseHead& head, bool requestWasHead);
// RFC 9112 §6.3, in order: HEAD/1xx/204/304 have no body; then Transfer-Encoding; then
// Content-Length; else until close.

bool equalsIgnoreCase(kj::StringPtr a, kj::StringPtr b);
bool startsWithIgnoreCase(kj::StringPtr s, kj::StringPtr prefix);

}  // namespace ss::bridge
