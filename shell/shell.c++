#include "shell/shell.h"

namespace ss::shell {

namespace {
bool pathIs(std::string_view target, std::string_view path) {
  return target == path || (target.size() > path.size() &&
                            target.substr(0, path.size()) == path && target[path.size()] == '?');
}
}  // namespace

void Shell::handle(http::Exchange& exchange) {
  auto target = exchange.request().target;
  if (pathIs(target, "/api/health")) {
    exchange.respond(200, {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}},
                     "{\"status\":\"ok\"}\n", StaticFiles::securityHeaders());
    return;
  }
  if (target.substr(0, 5) == "/api/") {
    exchange.respond(404, {{"Content-Type", "application/json"}},
                     "{\"error\":\"no such API endpoint\"}\n", StaticFiles::securityHeaders());
    return;
  }
  if (!ui.serve(exchange)) ui.notFound(exchange);
}

}  // namespace ss::shell
