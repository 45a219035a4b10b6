#include "shell/shell.h"

#include <string.h>

#include <sodium.h>

#include <kj/debug.h>

#include "base/log.h"
#include "shell/health.h"

namespace ss::shell {

namespace {

bool pathIs(std::string_view target, std::string_view path) {
  return target == path || (target.size() > path.size() &&
                            target.substr(0, path.size()) == path && target[path.size()] == '?');
}

bool isMutating(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

void respondError(http::Exchange& exchange, uint16_t status, kj::StringPtr message) {
  if (exchange.responded()) return;
  auto body = kj::str("{\"error\":", jsonString(message), "}\n");
  exchange.respond(status, {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}},
                   std::string_view(body.begin(), body.size()));
}

// Cross-site request refusal for every mutating API call (shell/API.md "Security rules"). A JSON
// or octet-stream Content-Type cannot be sent cross-site without a CORS preflight, which we never
// grant; and a browser's Origin, when present, must be ours.
kj::Maybe<kj::StringPtr> crossSiteProblem(const ApiContext& context) {
  auto& request = context.request();
  auto* type = request.find("Content-Type");
  bool hasBody = request.framing != http::BodyFraming::NONE;
  if (hasBody || type != nullptr) {
    std::string_view t = type == nullptr ? std::string_view() : type->value;
    t = t.substr(0, t.find(';'));
    if (!http::equalsIgnoreCase(t, "application/json") &&
        !http::equalsIgnoreCase(t, "application/octet-stream")) {
      return kj::StringPtr("cross-site request refused (send Content-Type: application/json)");
    }
  }
  if (auto* origin = request.find("Origin")) {
    auto expected = context.shellOrigin();
    if (origin->value != std::string_view(expected.begin(), expected.size())) {
      return kj::StringPtr("cross-site request refused (Origin is not this server)");
    }
  }
  return nullptr;
}

}  // namespace

http::Handler::BodyPolicy Shell::bodyPolicy(const http::Request& request) {
  if (request.target.substr(0, 5) == "/api/") {
    for (auto* m: modules) {
      if (m->bodyPolicy(request) == BodyPolicy::STREAM) return BodyPolicy::STREAM;
    }
  }
  return BodyPolicy::BUFFER;
}

void Shell::handle(http::Exchange& exchange) {
  auto target = exchange.request().target;
  if (pathIs(target, "/api/health")) {
    respondHealth(exchange, accounts.database());
    return;
  }
  if (pathIs(target, "/metrics")) {
    // Never here: behind a proxy every client of this port is loopback (shell/metrics-page.h).
    exchange.respond(404, {{"Content-Type", "text/plain; charset=utf-8"}},
                     "404 Not Found: /metrics is served only on the --metrics-listen address\n");
    return;
  }
  if (target.substr(0, 5) == "/api/") {
    handleApi(exchange);
    return;
  }
  if (!ui.serve(exchange)) ui.notFound(exchange);
}

void Shell::handleApi(http::Exchange& exchange) {
  auto owned = kj::heap<ApiContext>(exchange, accounts.authenticate(exchange.request()));
  ApiContext& context = *owned;
  context.self = kj::mv(owned);
  try {
    if (isMutating(exchange.request().method)) {
      KJ_IF_MAYBE(problem, crossSiteProblem(context)) throw ApiError(403, kj::str(*problem));
      KJ_IF_MAYBE(user, context.user()) {
        auto* token = exchange.request().find("X-CSRF-Token");
        // Constant time: the comparison must not tell how much of a guess was right.
        if (token == nullptr || token->value.size() != user->csrf.size() ||
            sodium_memcmp(token->value.data(), user->csrf.begin(), user->csrf.size()) != 0) {
          throw ApiError(403, kj::str("missing or stale CSRF token: reload the page"));
        }
      }
    }
    bool handled = false;
    for (auto* module: modules) {
      if (module->handleApi(context)) {
        handled = true;
        break;
      }
    }
    if (!handled) throw ApiError(404, kj::str("no such API endpoint"));
  } catch (ApiError& e) {
    respondError(exchange, e.status, e.message);
  } catch (kj::Exception& e) {
    SS_LOG(ERROR, "api", "request failed", context.method(), e.getDescription());
    if (strstr(e.getDescription().cStr(), "the disk is full") != nullptr) {
      // SQLITE_FULL (sql.c++): nothing was saved, and the administrator can fix it.
      respondError(exchange, 507, "the server's disk is full: the change was not saved");
    } else {
      respondError(exchange, 500, kj::str("internal error: ", e.getDescription()));
    }
  }
  // Not deferred: the context ends with this call.
  KJ_IF_MAYBE(s, context.self) {
    auto dying = kj::mv(*s);
    context.self = nullptr;
  }
}

}  // namespace ss::shell
