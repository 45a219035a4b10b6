#include "shell/admin.h"

#include "config.h"
#include "shell/sql.h"

namespace ss::shell {

Admin::Admin(sqlite3* db, GrainHost& host, kj::StringPtr dataDir)
    : db(db), host(host), dataDir(kj::heapString(dataDir)), startedAt(unixNow()) {}

bool Admin::handleApi(ApiContext& context) {
  if (context.route("GET", {"admin", "status"})) {
    context.requireAdmin();
    JsonWriter w;
    w.beginObject()
        .field("version", SANDSTORM_VERSION)
        .field("uptimeSeconds", unixNow() - startedAt)
        .field("users", sqlInteger(db, "SELECT COUNT(*) FROM users"))
        .field("apps", sqlInteger(db, "SELECT COUNT(*) FROM apps"))
        .field("grains", sqlInteger(db, "SELECT COUNT(*) FROM grains WHERE trashed_at IS NULL"))
        .field("grainsRunning", int64_t(host.runningCount()))
        .field("dataDir", dataDir)
        .endObject();
    context.respondJson(200, w.finish());
    return true;
  }
  return false;
}

}  // namespace ss::shell
