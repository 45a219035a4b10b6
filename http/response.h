// Building correctly framed HTTP/1.1 responses.
#pragma once

#include <stdint.h>

#include <string>
#include <string_view>

namespace ss::http {

std::string_view statusText(uint16_t status);
// "OK", "Not Found", ...; "Unknown" for codes we never send.

bool statusHasNoBody(uint16_t status);
// 1xx, 204 and 304 responses never carry a body (RFC 9112 §6.3).

struct HeaderOut {
  std::string_view name;
  std::string_view value;
};

class DateCache {
  // The Date header costs a gmtime+strftime per second instead of per response.
public:
  std::string_view get();  // "Sat, 28 Nov 2026 17:02:56 GMT"

private:
  long cachedSecond = -1;
  char text[40] = {};
  size_t length = 0;
};

// Appends a complete response head (and the body, unless `headOnly`) to `out`.
// Adds Date, Content-Length (from body.size(), also for HEAD), and "Connection: close" when
// `close` is set, or "Connection: keep-alive" when `http10KeepAlive` is set (an HTTP/1.0 client
// assumes close unless told otherwise). `extraHeaders` is a preformatted block ("Name: value\r\n"...) for headers
// computed once (static files). Header values must not contain CR or LF: callers pass our own
// constants or validated values; KJ_REQUIRE enforces it for `headers`.
void appendResponseHead(std::string& out, DateCache& date, uint16_t status,
                        const HeaderOut* headers, size_t headerCount,
                        std::string_view extraHeaders, int64_t contentLength, bool close,
                        bool http10KeepAlive = false);
// The head alone. `contentLength` >= 0 is declared (for bodies the caller streams itself);
// -1 declares none (a close-delimited body, or a status that has none).

void appendResponse(std::string& out, DateCache& date, uint16_t status,
                    const HeaderOut* headers, size_t headerCount,
                    std::string_view extraHeaders, std::string_view body, bool headOnly,
                    bool close, bool http10KeepAlive = false);

}  // namespace ss::http
