#include "shell/health.h"

#include <kj/debug.h>

#include "base/log.h"
#include "config.h"
#include "shell/json.h"
#include "shell/sql.h"
#include "shell/static-files.h"

namespace ss::shell {

void respondHealth(http::Exchange& exchange, sqlite3* db) {
  // A real read from the store: an open handle is not enough (a disk gone read-only or a
  // corrupted file shows up here).
  kj::Maybe<kj::String> problem;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    sqlInteger(db, "SELECT COUNT(*) FROM meta");
  })) {
    problem = kj::str(e->getDescription());
  }
  kj::String body;
  uint16_t status = 200;
  KJ_IF_MAYBE(p, problem) {
    SS_LOG(WARNING, "health", "store check failed", *p);
    status = 503;
    body = kj::str("{\"status\":\"error\",\"store\":", jsonString(*p), ",\"version\":\"",
                   SANDSTORM_VERSION, "\"}\n");
  } else {
    body = kj::str("{\"status\":\"ok\",\"store\":\"ok\",\"version\":\"", SANDSTORM_VERSION, "\"}\n");
  }
  exchange.respond(status, {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}},
                   std::string_view(body.begin(), body.size()), StaticFiles::securityHeaders());
}

}  // namespace ss::shell
