#include "http/response.h"

#include <time.h>

#include <kj/debug.h>

namespace ss::http {

std::string_view statusText(uint16_t status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 203: return "Non-Authoritative Information";
    case 205: return "Reset Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 305: return "Use Proxy";
    case 402: return "Payment Required";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 451: return "Unavailable For Legal Reasons";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
  }
}

bool statusHasNoBody(uint16_t status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

std::string_view DateCache::get() {
  time_t now = time(nullptr);
  if (now != cachedSecond) {
    tm utc;
    gmtime_r(&now, &utc);
    length = strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &utc);
    cachedSecond = now;
  }
  return std::string_view(text, length);
}

namespace {
void appendNumber(std::string& out, uint64_t value) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = '0' + value % 10;
    value /= 10;
  } while (value != 0);
  while (n > 0) out.push_back(digits[--n]);
}

bool safeHeaderText(std::string_view text) {
  for (char c: text) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}
}  // namespace

void appendResponseHead(std::string& out, DateCache& date, uint16_t status,
                        const HeaderOut* headers, size_t headerCount,
                        std::string_view extraHeaders, int64_t contentLength, bool close,
                        bool http10KeepAlive) {
  KJ_REQUIRE(status >= 100 && status <= 599, "invalid status", status);
  // Response splitting guard: a CR or LF here would let a value start a new header. Checked
  // before anything is appended, so a refused head leaves `out` (the connection's output, which
  // may hold earlier pipelined responses) as it was.
  for (size_t i = 0; i < headerCount; i++) {
    KJ_REQUIRE(safeHeaderText(headers[i].name) && safeHeaderText(headers[i].value),
               "header contains CR/LF", std::string(headers[i].name).c_str());
  }
  out.append("HTTP/1.1 ");
  appendNumber(out, status);
  out.push_back(' ');
  out.append(statusText(status));
  out.append("\r\nDate: ");
  out.append(date.get());
  out.append("\r\n");
  for (size_t i = 0; i < headerCount; i++) {
    out.append(headers[i].name);
    out.append(": ");
    out.append(headers[i].value);
    out.append("\r\n");
  }
  out.append(extraHeaders);
  if (contentLength >= 0 && !statusHasNoBody(status)) {
    out.append("Content-Length: ");
    appendNumber(out, contentLength);
    out.append("\r\n");
  }
  if (close) {
    out.append("Connection: close\r\n");
  } else if (http10KeepAlive) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

void appendResponse(std::string& out, DateCache& date, uint16_t status,
                    const HeaderOut* headers, size_t headerCount,
                    std::string_view extraHeaders, std::string_view body, bool headOnly,
                    bool close, bool http10KeepAlive) {
  appendResponseHead(out, date, status, headers, headerCount, extraHeaders,
                     static_cast<int64_t>(body.size()), close, http10KeepAlive);
  if (!statusHasNoBody(status) && !headOnly) out.append(body);
}

}  // namespace ss::http
