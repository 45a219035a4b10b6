#include "shell/api.h"

#include <kj/debug.h>

namespace ss::shell {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

kj::String percentDecode(kj::StringPtr text, bool plusIsSpace) {
  kj::Vector<char> out(text.size() + 1);
  for (size_t i = 0; i < text.size(); i++) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      int hi = hexValue(text[i + 1]);
      int lo = hexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.add(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.add(plusIsSpace && c == '+' ? ' ' : c);
  }
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

kj::Maybe<kj::String> cookieValue(const http::Request& request, kj::StringPtr name) {
  for (auto& header: request) {
    if (!http::equalsIgnoreCase(header.name, "Cookie")) continue;
    std::string_view rest = header.value;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      auto item = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      size_t eq = item.find('=');
      if (eq == std::string_view::npos) continue;
      if (item.substr(0, eq) == std::string_view(name.begin(), name.size())) {
        auto value = item.substr(eq + 1);
        return kj::heapString(value.data(), value.size());
      }
    }
  }
  return nullptr;
}

ApiContext::ApiContext(http::Exchange& exchange, kj::Maybe<User> user)
    : exchange(exchange), currentUser(kj::mv(user)) {
  auto& r = exchange.request();
  methodText = kj::heapString(r.method.data(), r.method.size());
  std::string_view target = r.target;
  size_t q = target.find('?');
  if (q != std::string_view::npos) {
    rawQuery = kj::heapString(target.substr(q + 1).data(), target.size() - q - 1);
    target = target.substr(0, q);
  }
  KJ_ASSERT(target.substr(0, 5) == "/api/");
  target.remove_prefix(5);
  while (!target.empty()) {
    size_t slash = target.find('/');
    auto part = target.substr(0, slash);
    segments.add(percentDecode(kj::heapString(part.data(), part.size())));
    if (slash == std::string_view::npos) break;
    target.remove_prefix(slash + 1);
    if (target.empty()) segments.add(kj::str());  // trailing slash: an empty last segment
  }
}

bool ApiContext::route(kj::StringPtr method, std::initializer_list<const char*> pattern) {
  if (methodText != method || pattern.size() != segments.size()) return false;
  args.clear();
  size_t i = 0;
  for (const char* p: pattern) {
    if (kj::StringPtr(p) == "*") {
      if (segments[i].size() == 0) return false;
      args.add(segments[i]);
    } else if (segments[i] != p) {
      return false;
    }
    i++;
  }
  return true;
}

kj::Maybe<kj::String> ApiContext::query(kj::StringPtr name) const {
  kj::StringPtr rest = rawQuery;
  while (rest.size() > 0) {
    kj::StringPtr item = rest;
    KJ_IF_MAYBE(amp, rest.findFirst('&')) {
      item = kj::StringPtr(rest.begin(), *amp);  // not NUL-terminated: copy below
      rest = rest.slice(*amp + 1);
    } else {
      rest = "";
    }
    auto owned = kj::heapString(item.begin(), item.size());
    KJ_IF_MAYBE(eq, owned.findFirst('=')) {
      if (percentDecode(kj::heapString(owned.begin(), *eq), true) == name) {
        return percentDecode(owned.slice(*eq + 1), true);
      }
    } else if (percentDecode(owned, true) == name) {
      return kj::str();
    }
  }
  return nullptr;
}

kj::Maybe<const User&> ApiContext::user() const {
  KJ_IF_MAYBE(u, currentUser) return *u;
  return nullptr;
}

const User& ApiContext::requireUser() const {
  KJ_IF_MAYBE(u, currentUser) return *u;
  throw ApiError(401, kj::str("please log in first"));
}

const User& ApiContext::requireAdmin() const {
  auto& u = requireUser();
  if (!u.isAdmin) throw ApiError(403, kj::str("only an administrator can do this"));
  return u;
}

const JsonBody& ApiContext::json() {
  KJ_IF_MAYBE(b, body) return **b;
  auto text = exchange.body();
  auto parsed = kj::heap<JsonBody>(kj::heapString(text.data(), text.size()));
  auto& ref = *parsed;
  body = kj::mv(parsed);
  return ref;
}

void ApiContext::addHeader(kj::String name, kj::String value) {
  extraHeaders.add(http::HeaderOut{std::string_view(name.begin(), name.size()),
                                   std::string_view(value.begin(), value.size())});
  extraHeaderStorage.add(kj::mv(name));
  extraHeaderStorage.add(kj::mv(value));
}

void ApiContext::respondJson(uint16_t status, kj::StringPtr json) {
  kj::Vector<http::HeaderOut> headers;
  headers.add(http::HeaderOut{"Content-Type", "application/json"});
  headers.add(http::HeaderOut{"Cache-Control", "no-store"});
  for (auto& h: extraHeaders) headers.add(h);
  exchange.respond(status, headers.asPtr(), std::string_view(json.begin(), json.size()));
}

void ApiContext::respondText(uint16_t status, kj::StringPtr text) {
  kj::Vector<http::HeaderOut> headers;
  headers.add(http::HeaderOut{"Content-Type", "text/plain; charset=utf-8"});
  headers.add(http::HeaderOut{"Cache-Control", "no-store"});
  for (auto& h: extraHeaders) headers.add(h);
  exchange.respond(status, headers.asPtr(), std::string_view(text.begin(), text.size()));
}

void ApiContext::respondError(uint16_t status, kj::StringPtr message) {
  if (exchange.responded()) return;
  auto body = kj::str("{\"error\":", jsonString(message), "}\n");
  respondJson(status, body);
}

void ApiContext::respondNoContent() {
  kj::Vector<http::HeaderOut> headers;
  headers.add(http::HeaderOut{"Cache-Control", "no-store"});
  for (auto& h: extraHeaders) headers.add(h);
  exchange.respond(204, headers.asPtr(), {});
}

void ApiContext::defer(kj::Promise<void> work) {
  auto owned = kj::mv(KJ_REQUIRE_NONNULL(self, "defer() called twice"));
  self = nullptr;
  http::Exchange* ex = &exchange;
  exchange.defer(work.catch_([ex](kj::Exception&& e) {
    if (ex->responded()) kj::throwFatalException(kj::mv(e));
    auto body = kj::str("{\"error\":", jsonString(kj::str("internal error: ", e.getDescription())),
                        "}\n");
    ex->respond(500, {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}},
                std::string_view(body.begin(), body.size()));
  }).attach(kj::mv(owned)));
}

bool ApiContext::secure() const {
  auto& r = exchange.request();
  if (auto* proto = r.find("X-Forwarded-Proto")) return proto->value == "https";
  return false;
}

kj::String ApiContext::shellOrigin() const {
  auto host = exchange.request().host;
  return kj::str(secure() ? "https://" : "http://",
                 kj::heapString(host.data(), host.size()));
}

kj::String ApiContext::hostName() const {
  std::string_view host = exchange.request().host;
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else {
    size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) host = host.substr(0, colon);
  }
  return kj::heapString(host.data(), host.size());
}

}  // namespace ss::shell
