#include "http/request.h"

namespace ss::http {

namespace {

inline char lower(char c) {
  // ASCII only: header names and the tokens we compare are ASCII, and locale-aware tolower()
  // would make "I" match "ı" in some locales.
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

inline bool isOws(char c) { return c == ' ' || c == '\t'; }

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool hasToken(std::string_view value, std::string_view token) {
  // RFC 9110 §5.6.1: #element lists allow empty elements and OWS around each comma.
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    size_t begin = pos;
    size_t end = comma;
    while (begin < end && isOws(value[begin])) begin++;
    while (end > begin && isOws(value[end - 1])) end--;
    if (equalsIgnoreCase(value.substr(begin, end - begin), token)) return true;
    pos = comma + 1;
  }
  return false;
}

const Header* Request::find(std::string_view name) const {
  for (const Header& header: *this) {
    if (equalsIgnoreCase(header.name, name)) return &header;
  }
  return nullptr;
}

}  // namespace ss::http
