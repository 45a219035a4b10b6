// A parsed HTTP/1.1 request head. A value type of views: every string_view points into the
// buffer the head was parsed from and is valid only as long as that buffer is.
#pragma once

#include <stdint.h>

#include <string_view>

#include "base/limits.h"

namespace ss::http {

struct Header {
  std::string_view name;   // as sent (case preserved); compare with equalsIgnoreCase()
  std::string_view value;  // leading/trailing spaces and tabs trimmed
};

enum class BodyFraming : uint8_t {
  NONE,      // no body (no Content-Length, no Transfer-Encoding, or Content-Length: 0)
  LENGTH,    // exactly `contentLength` bytes follow the head
  CHUNKED,   // Transfer-Encoding: chunked, decoded by ChunkedDecoder
};

struct Request {
  std::string_view method;  // token as sent, e.g. "GET"
  std::string_view target;  // request-target exactly as sent (never decoded or normalised)
  uint8_t versionMinor = 1; // HTTP/1.<versionMinor>; only 0 and 1 are accepted
  std::string_view host;    // the single Host header's value (required, exactly once)

  Header headers[limits::MAX_HEADER_COUNT];
  size_t headerCount = 0;

  BodyFraming framing = BodyFraming::NONE;
  uint64_t contentLength = 0;  // meaningful when framing == LENGTH

  bool keepAlive = true;         // false for "Connection: close" or HTTP/1.0 without keep-alive
  bool expectContinue = false;   // "Expect: 100-continue"
  bool websocketUpgrade = false; // GET with "Upgrade: websocket" and "Connection: upgrade"

  bool isHead() const { return method == "HEAD"; }
  bool isGet() const { return method == "GET"; }

  const Header* begin() const { return headers; }
  const Header* end() const { return headers + headerCount; }

  // First header with this name (case-insensitive), or nullptr.
  const Header* find(std::string_view name) const;
};

bool equalsIgnoreCase(std::string_view a, std::string_view b);

// True if a comma-separated header value (e.g. Connection) contains `token`, case-insensitive.
bool hasToken(std::string_view value, std::string_view token);

}  // namespace ss::http
