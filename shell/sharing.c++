// Share links: a random token (only its hash is stored) that opens one grain with one role.
#include "shell/grains.h"

#include <sodium.h>

#include <kj/debug.h>
#include <kj/encoding.h>

#include "base/log.h"
#include "shell/sql.h"

namespace ss::shell {

namespace {

kj::Array<kj::byte> hashToken(kj::StringPtr token) {
  auto out = kj::heapArray<kj::byte>(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(out.begin(), token.asBytes().begin(), token.size());
  return out;
}

struct ShareRow {
  int64_t id;
  kj::String grainId;
  uint32_t role;
  bool anonymous;
};

kj::Maybe<ShareRow> findShare(sqlite3* db, kj::StringPtr token) {
  if (token.size() != 64) return nullptr;
  auto hash = hashToken(token);
  Statement s(db, "SELECT s.id, s.grain_id, s.role, s.anonymous FROM shares s "
                  "JOIN grains g ON g.id = s.grain_id "
                  "WHERE s.token_hash = ? AND s.revoked_at IS NULL AND g.trashed_at IS NULL",
              {hash.asPtr()});
  if (!s.next()) return nullptr;
  return ShareRow{s.integer(0), s.text(1), uint32_t(s.integer(2)), s.integer(3) != 0};
}

ApiError revokedLink() {
  return ApiError(404, kj::str("this sharing link does not work any more: it was revoked, or "
                               "the grain was deleted"));
}

}  // namespace

Sharing::Sharing(sqlite3* db, Grains& grains, GrainOrigins& origins)
    : db(db), grains(grains), origins(origins) {}

bool Sharing::handleApi(ApiContext& context) {
  if (context.route("GET", {"grains", "*", "roles"})) {
    context.requireUser();
    auto roles = grains.roles(context.arg(0));
    JsonWriter w;
    w.beginArray();
    for (uint i = 0; i < roles.size(); i++) {
      w.beginObject().field("index", int64_t(i)).field("title", roles[i].title).endObject();
    }
    w.endArray();
    context.respondJson(200, w.finish());
    return true;
  }
  if (context.route("POST", {"grains", "*", "shares"})) {
    auto& user = context.requireUser();
    auto grainId = kj::heapString(context.arg(0));
    if (sqlInteger(db, "SELECT owner_id FROM grains WHERE id = ?", {grainId}, -1) != user.id) {
      throw ApiError(404, kj::str("no such grain"));
    }
    auto& body = context.json();
    auto role = body.integer("role");
    auto roles = grains.roles(grainId);
    if (role < 0 || role >= int64_t(roles.size())) throw ApiError(400, kj::str("no such role"));
    auto label = valueOr(body.optionalString("label"), []() { return kj::str(); });
    if (label.size() > 200) throw ApiError(400, kj::str("the label is too long"));
    bool anonymous = body.boolean("anonymous", false);
    kj::byte raw[32];
    randombytes_buf(raw, sizeof(raw));
    auto token = kj::encodeHex(kj::arrayPtr(raw, sizeof(raw)));
    auto hash = hashToken(token);
    sqlExec(db, "INSERT INTO shares (token_hash, grain_id, created_by, role, label, anonymous, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            {hash.asPtr(), grainId, user.id, role, label, anonymous, unixNow()});
    int64_t id = sqlLastInsertId(db);
    SS_LOG(INFO, "sharing", "link created", grainId, id, role);
    JsonWriter w;
    w.beginObject()
        .field("id", id)
        .field("token", token)
        .field("url", kj::str(context.shellOrigin(), "/#/share/", token))
        .endObject();
    context.respondJson(201, w.finish());
    return true;
  }
  if (context.route("GET", {"grains", "*", "shares"})) {
    auto& user = context.requireUser();
    auto grainId = kj::heapString(context.arg(0));
    if (sqlInteger(db, "SELECT owner_id FROM grains WHERE id = ?", {grainId}, -1) != user.id) {
      throw ApiError(404, kj::str("no such grain"));
    }
    auto roles = grains.roles(grainId);
    Statement s(db, "SELECT id, label, role, anonymous, created_at, revoked_at FROM shares "
                    "WHERE grain_id = ? ORDER BY created_at DESC", {grainId});
    JsonWriter w;
    w.beginArray();
    while (s.next()) {
      uint32_t role = uint32_t(s.integer(2));
      w.beginObject()
          .field("id", s.integer(0))
          .field("label", s.text(1))
          .field("role", int64_t(role))
          .field("roleTitle", role < roles.size() ? roles[role].title.asPtr() : "(removed)")
          .field("anonymous", s.integer(3) != 0)
          .field("createdAt", s.integer(4));
      if (s.isNull(5)) w.nullField("revokedAt"); else w.field("revokedAt", s.integer(5));
      w.endObject();
    }
    w.endArray();
    context.respondJson(200, w.finish());
    return true;
  }
  if (context.route("DELETE", {"shares", "*"})) {
    auto& user = context.requireUser();
    int64_t id = strtoll(context.arg(0).cStr(), nullptr, 10);
    sqlExec(db, "UPDATE shares SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND "
                "grain_id IN (SELECT id FROM grains WHERE owner_id = ?)",
            {unixNow(), id, user.id});
    if (sqlChanges(db) == 0) throw ApiError(404, kj::str("no such share link"));
    origins.endShare(id);  // revoked means now: open sessions from it end too
    SS_LOG(INFO, "sharing", "link revoked", id);
    context.respondNoContent();
    return true;
  }
  if (context.route("GET", {"shares", "*"})) {
    auto share = valueOr(findShare(db, context.arg(0)), []() -> ShareRow { throw revokedLink(); });
    auto roles = grains.roles(share.grainId);
    Statement s(db, "SELECT g.title, p.title FROM grains g JOIN packages p "
                    "ON p.package_id = g.package_id WHERE g.id = ?", {share.grainId});
    s.next();
    JsonWriter w;
    w.beginObject()
        .field("grainTitle", s.text(0))
        .field("appTitle", s.text(1))
        .field("role", int64_t(share.role))
        .field("roleTitle", share.role < roles.size() ? roles[share.role].title.asPtr() : "")
        .field("needsLogin", !share.anonymous && context.user() == nullptr)
        .endObject();
    context.respondJson(200, w.finish());
    return true;
  }
  if (context.route("POST", {"shares", "*", "open"})) {
    auto share = valueOr(findShare(db, context.arg(0)), []() -> ShareRow { throw revokedLink(); });
    auto user = context.user();
    if (user == nullptr && !share.anonymous) {
      throw ApiError(401, kj::str("log in to open this shared grain"));
    }
    KJ_IF_MAYBE(u, user) {
      if (sqlInteger(db, "SELECT owner_id FROM grains WHERE id = ?", {share.grainId}) != u->id) {
        // Logged in: the grain joins this person's list, with this link's role.
        sqlExec(db, "INSERT OR REPLACE INTO grain_access (user_id, grain_id, share_id, added_at) "
                    "VALUES (?, ?, ?, ?)", {u->id, share.grainId, share.id, unixNow()});
      }
    }
    auto identity = grains.identityFor(user, share.grainId, share.role, share.id);
    auto role = kj::heapString(identity.role);
    auto opened = origins.open(share.grainId, kj::mv(identity), context.hostName(),
                               context.shellOrigin());
    Statement s(db, "SELECT title FROM grains WHERE id = ?", {share.grainId});
    s.next();
    context.respondJson(200, openJson(opened, s.text(0), role));
    return true;
  }
  return false;
}

}  // namespace ss::shell
