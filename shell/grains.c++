#include "shell/grains.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/encoding.h>

#include "base/fd.h"
#include "base/log.h"
#include "pkg/unpack.h"
#include "shell/orphans.h"
#include "shell/sql.h"

namespace ss::shell {

namespace {

constexpr size_t MAX_TITLE = 200;

kj::String newGrainId() {
  // 20 random bytes, lowercase base32-ish hex: names a directory and a cgroup.
  kj::byte bytes[12];
  randombytes_buf(bytes, sizeof(bytes));
  return kj::encodeHex(kj::arrayPtr(bytes, sizeof(bytes)));
}

kj::String cleanTitle(kj::StringPtr title) {
  kj::Vector<char> out;
  for (char c: title) {
    if (static_cast<unsigned char>(c) < 0x20) continue;  // no control characters
    out.add(c);
  }
  while (out.size() > 0 && out.back() == ' ') out.removeLast();
  if (out.size() > MAX_TITLE) out.resize(MAX_TITLE);
  out.add('\0');
  return kj::String(out.releaseAsArray());
}

uint64_t treeBytes = 0;
int addSize(const char*, const struct stat* st, int type, struct FTW*) {
  if (type == FTW_F) treeBytes += uint64_t(st->st_blocks) * 512;
  return 0;
}

uint64_t diskUsage(kj::StringPtr dir) {
  treeBytes = 0;
  nftw(dir.cStr(), addSize, 16, FTW_PHYS);
  return treeBytes;
}

kj::Array<kj::String> commandArgv(spk::Manifest::Command::Reader command) {
  kj::Vector<kj::String> argv;
  if (command.hasDeprecatedExecutablePath()) {
    argv.add(kj::heapString(command.getDeprecatedExecutablePath()));
  }
  for (auto a: command.getArgv()) argv.add(kj::heapString(a));
  return argv.releaseAsArray();
}

kj::Array<kj::String> commandEnv(spk::Manifest::Command::Reader command) {
  return KJ_MAP(kv, command.getEnviron()) {
    return kj::str(kv.getKey(), "=", kv.getValue());
  };
}

}  // namespace

Grains::Grains(sqlite3* db, kj::StringPtr dataDir, Apps& apps, GrainHost& host)
    : db(db), grainsDir(kj::str(dataDir, "/grains")), apps(apps), host(host) {
  makeDirectories(grainsDir, 0711);
  // A deletion cut off between its row and its files, or a restore before its row: leftovers.
  removeOrphans(db, grainsDir, "SELECT COUNT(*) FROM grains WHERE id = ?", "grain");
}

GrainSpec Grains::specFor(kj::StringPtr grainId) {
  Statement s(db, "SELECT package_id, action_index FROM grains WHERE id = ?", {grainId});
  if (!s.next()) throw ApiError(404, kj::str("no such grain"));
  auto package = apps.package(s.text(0));
  auto manifest = package->manifest();
  GrainSpec spec;
  spec.grainId = kj::heapString(grainId);
  spec.packageDir = kj::heapString(package->packageDir);
  auto dir = grainDir(grainId);
  makeDirectories(dir, 0711);
  spec.varDir = kj::str(dir, "/var");
  spec.logPath = kj::str(dir, "/log");
  bool firstStart = access(spec.varDir.cStr(), F_OK) != 0;
  auto actions = manifest.getActions();
  uint32_t index = uint32_t(s.integer(1));
  if (firstStart && index < actions.size()) {
    spec.argv = commandArgv(actions[index].getCommand());
    spec.env = commandEnv(actions[index].getCommand());
  } else {
    spec.argv = commandArgv(manifest.getContinueCommand());
    spec.env = commandEnv(manifest.getContinueCommand());
  }
  return spec;
}

kj::Array<Role> Grains::roles(kj::StringPtr grainId) {
  auto packageId = [&]() {
    Statement s(db, "SELECT package_id FROM grains WHERE id = ?", {grainId});
    if (!s.next()) throw ApiError(404, kj::str("no such grain"));
    return s.text(0);
  }();
  auto package = apps.package(packageId);
  kj::Vector<Role> out;
  auto path = kj::str(package->packageDir, "/sandstorm-http-bridge-config");
  if (access(path.cStr(), R_OK) == 0) {
    auto bytes = readFile(path);
    if (bytes.size() % sizeof(capnp::word) == 0 && bytes.size() > 0) {
      auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
      memcpy(words.begin(), bytes.begin(), bytes.size());
      capnp::FlatArrayMessageReader reader(words);
      auto view = reader.getRoot<spk::BridgeConfig>().getViewInfo();
      for (auto role: view.getRoles()) {
        if (role.getObsolete()) continue;
        Role r;
        r.title = kj::heapString(role.getTitle().getDefaultText());
        r.permissions = KJ_MAP(p, role.getPermissions()) { return bool(p); };
        out.add(kj::mv(r));
      }
    }
  }
  if (out.size() == 0) {
    Role edit;
    edit.title = kj::str("can edit");
    out.add(kj::mv(edit));
    Role view;
    view.title = kj::str("can view");
    view.readOnly = true;  // enforced by the grain origin: no mutating requests
    out.add(kj::mv(view));
  }
  return out.releaseAsArray();
}

GrainIdentity Grains::identityFor(kj::Maybe<const User&> user, kj::StringPtr grainId,
                                  uint32_t role, int64_t shareId) {
  auto all = roles(grainId);
  GrainIdentity identity;
  KJ_IF_MAYBE(u, user) {
    identity.displayName = kj::heapString(u->name);
    identity.accountId = u->id;
    // A stable, opaque id per account (X-Sandstorm-User-Id): not the database row number.
    auto seed = kj::str("sandstorm-user:", u->id);
    unsigned char digest[32];
    crypto_hash_sha256(digest, seed.asBytes().begin(), seed.size());
    identity.identityId = kj::heapArray<kj::byte>(kj::arrayPtr(digest, 16));
  } else {
    identity.displayName = kj::str("Anonymous");
  }
  identity.shareId = shareId;
  if (role == UINT32_MAX) {
    // The owner: every permission the app defines.
    size_t most = 0;
    for (auto& r: all) most = kj::max(most, r.permissions.size());
    identity.permissions = kj::heapArray<bool>(most);
    for (auto& p: identity.permissions) p = true;
    identity.role = kj::str("owner");
    return identity;
  }
  KJ_REQUIRE(role < all.size(), "the share's role no longer exists in this app");
  identity.permissions = kj::heapArray<bool>(all[role].permissions.asPtr());
  identity.readOnly = all[role].readOnly;
  identity.role = kj::heapString(all[role].title);
  return identity;
}

GrainIdentity Grains::ownerIdentity(const User& user, kj::StringPtr grainId) {
  return identityFor(user, grainId, UINT32_MAX, 0);
}

void Grains::requireOwner(const User& user, kj::StringPtr grainId) {
  Statement s(db, "SELECT owner_id FROM grains WHERE id = ?", {grainId});
  if (!s.next() || s.integer(0) != user.id) throw ApiError(404, kj::str("no such grain"));
}

kj::String Grains::grainJson(kj::StringPtr grainId, bool owner) {
  Statement s(db,
              "SELECT g.id, g.title, g.app_id, p.title, g.created_at, g.last_opened_at, "
              "g.trashed_at, g.owner_id FROM grains g JOIN packages p "
              "ON p.package_id = g.package_id WHERE g.id = ?", {grainId});
  if (!s.next()) throw ApiError(404, kj::str("no such grain"));
  JsonWriter w;
  w.beginObject()
      .field("id", s.text(0))
      .field("title", s.text(1))
      .field("appId", s.text(2))
      .field("appTitle", s.text(3))
      .field("createdAt", s.integer(4));
  if (s.isNull(5)) w.nullField("lastOpenedAt"); else w.field("lastOpenedAt", s.integer(5));
  if (s.isNull(6)) w.nullField("trashedAt"); else w.field("trashedAt", s.integer(6));
  w.field("sizeBytes", int64_t(diskUsage(kj::str(grainDir(grainId), "/var"))))
      .field("running", host.status(grainId).running)
      .field("owner", owner)
      .endObject();
  return w.finish();
}

void Grains::purgeTrash(int64_t olderThanSeconds) {
  kj::Vector<kj::String> doomed;
  {
    Statement s(db, "SELECT id FROM grains WHERE trashed_at IS NOT NULL AND trashed_at < ?",
                {unixNow() - olderThanSeconds});
    while (s.next()) doomed.add(s.text(0));
  }
  for (auto& id: doomed) deleteGrain(id);
}

void Grains::deleteGrain(kj::StringPtr id) {
  host.stop(id);
  KJ_IF_MAYBE(o, origins) o->endGrain(id);
  // The row first: a crash before the files are gone leaves a directory no row names, which
  // the next start removes (removeOrphans); never a row whose data is half deleted.
  sqlExec(db, "DELETE FROM grains WHERE id = ?", {id});
  int fd;
  KJ_SYSCALL(fd = open(grainsDir.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), grainsDir);
  AutoCloseFd dir(fd);
  pkg::removeTreeAt(fd, id);
  SS_LOG(INFO, "grains", "deleted", id);
}

void Grains::restartApp(kj::StringPtr appId) {
  Statement s(db, "SELECT id FROM grains WHERE app_id = ?", {appId});
  while (s.next()) {
    auto id = s.text(0);
    host.stop(id);  // the next request starts it on the new version
  }
}

bool Grains::handleApi(ApiContext& context) {
  if (context.route("GET", {"grains"})) {
    auto& user = context.requireUser();
    bool trash = context.query("trash") != nullptr;
    Statement s(db, trash ? "SELECT id FROM grains WHERE owner_id = ? AND trashed_at IS NOT NULL "
                            "ORDER BY trashed_at DESC"
                          : "SELECT id FROM grains WHERE owner_id = ? AND trashed_at IS NULL "
                            "ORDER BY COALESCE(last_opened_at, created_at) DESC",
                {user.id});
    JsonWriter w;
    w.beginArray();
    while (s.next()) w.raw(grainJson(s.text(0)));
    if (!trash) {
      // Grains others shared with this account (through a link it opened), while the link lives.
      Statement shared(db, "SELECT g.id FROM grain_access a JOIN grains g ON g.id = a.grain_id "
                           "JOIN shares s ON s.id = a.share_id WHERE a.user_id = ? AND "
                           "s.revoked_at IS NULL AND g.trashed_at IS NULL "
                           "ORDER BY a.added_at DESC", {user.id});
      while (shared.next()) w.raw(grainJson(shared.text(0), false));
    }
    w.endArray();
    context.respondJson(200, w.finish());
    return true;
  }
  if (context.route("POST", {"grains"})) {
    auto& user = context.requireUser();
    auto& body = context.json();
    auto appId = body.string("appId");
    auto actionIndex = body.integer("actionIndex");
    auto packageId = valueOr(apps.currentPackage(appId), []() -> kj::String {
      throw ApiError(404, kj::str("that app is not installed"));
    });
    auto package = apps.package(packageId);
    auto actions = package->manifest().getActions();
    if (actionIndex < 0 || actionIndex >= int64_t(actions.size()) ||
        !actions[actionIndex].getInput().isNone()) {
      throw ApiError(400, kj::str("that app has no such action"));
    }
    auto title = cleanTitle(valueOr(body.optionalString("title"), []() { return kj::str(); }));
    if (title.size() == 0) {
      kj::StringPtr noun = actions[actionIndex].getNounPhrase().getDefaultText();
      title = kj::str("Untitled ", noun.size() > 0 ? noun : package->title);
    }
    auto id = newGrainId();
    sqlExec(db, "INSERT INTO grains (id, owner_id, app_id, package_id, action_index, title, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            {id, user.id, appId, packageId, actionIndex, title, unixNow()});
    SS_LOG(INFO, "grains", "created", id, appId);
    context.respondJson(201, kj::str("{\"grain\":", grainJson(id), "}\n"));
    return true;
  }
  if (context.route("PATCH", {"grains", "*"})) {
    auto& user = context.requireUser();
    auto id = kj::heapString(context.arg(0));
    requireOwner(user, id);
    auto title = cleanTitle(context.json().string("title"));
    if (title.size() == 0) throw ApiError(400, kj::str("the title must not be empty"));
    sqlExec(db, "UPDATE grains SET title = ? WHERE id = ?", {title, id});
    context.respondJson(200, kj::str("{\"grain\":", grainJson(id), "}\n"));
    return true;
  }
  if (context.route("POST", {"grains", "*", "trash"}) ||
      context.route("POST", {"grains", "*", "restore"})) {
    auto& user = context.requireUser();
    auto id = kj::heapString(context.arg(0));
    requireOwner(user, id);
    bool trash = context.request().target.find("/trash") != std::string_view::npos;
    if (trash) {
      sqlExec(db, "UPDATE grains SET trashed_at = ? WHERE id = ?", {unixNow(), id});
      host.stop(id);
      KJ_IF_MAYBE(o, origins) o->endGrain(id);
    } else {
      sqlExec(db, "UPDATE grains SET trashed_at = NULL WHERE id = ?", {id});
    }
    context.respondJson(200, kj::str("{\"grain\":", grainJson(id), "}\n"));
    return true;
  }
  if (context.route("DELETE", {"grains", "*"})) {
    auto& user = context.requireUser();
    auto id = kj::heapString(context.arg(0));
    requireOwner(user, id);
    if (sqlInteger(db, "SELECT trashed_at IS NULL FROM grains WHERE id = ?", {id}) != 0) {
      throw ApiError(409, kj::str("move the grain to the trash first"));
    }
    // Only this grain. (This was `trashed_at = 0` and purgeTrash(-1), which purges every
    // grain in the trash: found by tests/durability, which lost trashed grains it had not
    // deleted.)
    deleteGrain(id);
    context.respondNoContent();
    return true;
  }
  if (context.route("POST", {"grains", "*", "open"})) {
    auto& user = context.requireUser();
    auto id = kj::heapString(context.arg(0));
    if (sqlInteger(db, "SELECT owner_id FROM grains WHERE id = ?", {id}, -1) != user.id) {
      // Shared with this account: open it with the role of the link it came through.
      Statement a(db, "SELECT s.id, s.role FROM grain_access a JOIN shares s ON s.id = a.share_id "
                      "JOIN grains g ON g.id = a.grain_id WHERE a.user_id = ? AND a.grain_id = ? "
                      "AND s.revoked_at IS NULL AND g.trashed_at IS NULL", {user.id, id});
      if (!a.next()) throw ApiError(404, kj::str("no such grain"));
      auto identity = identityFor(user, id, uint32_t(a.integer(1)), a.integer(0));
      auto role = kj::heapString(identity.role);
      auto opened = KJ_ASSERT_NONNULL(origins).open(id, kj::mv(identity), context.hostName(),
                                                    context.shellOrigin());
      Statement t(db, "SELECT title FROM grains WHERE id = ?", {id});
      t.next();
      context.respondJson(200, openJson(opened, t.text(0), role));
      return true;
    }
    if (sqlInteger(db, "SELECT trashed_at IS NOT NULL FROM grains WHERE id = ?", {id}) != 0) {
      throw ApiError(409, kj::str("this grain is in the trash; restore it to open it"));
    }
    auto& o = KJ_ASSERT_NONNULL(origins);
    auto opened = o.open(id, ownerIdentity(user, id), context.hostName(), context.shellOrigin());
    sqlExec(db, "UPDATE grains SET last_opened_at = ? WHERE id = ?", {unixNow(), id});
    auto title = [&]() {
      Statement s(db, "SELECT title FROM grains WHERE id = ?", {id});
      s.next();
      return s.text(0);
    }();
    context.respondJson(200, openJson(opened, title, "owner"));
    return true;
  }
  // Grain sessions belong to whoever opened them: an account, or (account 0) a visitor who
  // opened an anonymous sharing link. The session id is the capability; it is only ever given to
  // the browser that opened the session.
  if (context.route("POST", {"grain-sessions", "*", "heartbeat"})) {
    int64_t account = 0;
    KJ_IF_MAYBE(user, context.user()) account = user->id;
    auto& o = KJ_ASSERT_NONNULL(origins);
    if (!o.heartbeat(context.arg(0), account)) {
      throw ApiError(410, kj::str("this grain session has ended; open the grain again"));
    }
    context.respondNoContent();
    return true;
  }
  if (context.route("DELETE", {"grain-sessions", "*"})) {
    int64_t account = 0;
    KJ_IF_MAYBE(user, context.user()) account = user->id;
    KJ_ASSERT_NONNULL(origins).end(context.arg(0), account);
    context.respondNoContent();
    return true;
  }
  if (context.route("GET", {"grains", "*", "log"})) {
    auto& user = context.requireUser();
    auto id = kj::heapString(context.arg(0));
    requireOwner(user, id);
    auto text = readLogTail(kj::str(grainDir(id), "/log"), 64 * 1024);
    context.respondText(200, text.size() > 0 ? text.asPtr() : "(the log is empty)\n");
    return true;
  }
  if (context.route("GET", {"grains", "*", "usage"})) {
    auto& user = context.requireUser();
    auto id = kj::heapString(context.arg(0));
    requireOwner(user, id);
    auto status = host.status(id);
    JsonWriter w;
    w.beginObject()
        .field("running", status.running)
        .field("starts", int64_t(status.starts))
        .field("lastExit", status.lastExit)
        .field("diskBytes", int64_t(diskUsage(kj::str(grainDir(id), "/var"))))
        .field("memoryBytes", int64_t(status.memoryBytes))
        .field("cpuSeconds", int64_t(status.cpuUsec / 1'000'000))
        .field("oomKills", int64_t(status.oomKills))
        .field("processLimitHits", int64_t(status.pidsMaxHits))
        .endObject();
    context.respondJson(200, w.finish());
    return true;
  }
  return false;
}

kj::String openJson(const GrainOrigins::Opened& opened, kj::StringPtr title, kj::StringPtr role) {
  JsonWriter w;
  w.beginObject()
      .field("url", opened.url)
      .field("sessionId", opened.sessionId)
      .field("title", title)
      .field("role", role)
      .endObject();
  return w.finish();
}

}  // namespace ss::shell
