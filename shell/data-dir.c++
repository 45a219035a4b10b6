#include "shell/data-dir.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kj/debug.h>

namespace ss::shell {

namespace {

void exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    kj::String message = kj::str(error != nullptr ? error : sqlite3_errstr(rc));
    sqlite3_free(error);
    KJ_FAIL_REQUIRE("SQLite error", message, sql);
  }
}

// Each entry moves the schema from version i to i+1. Append only; never edit a released one.
const char* const MIGRATIONS[] = {
    // 1: bookkeeping only; the shell's tables arrive with the shell.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO meta (key, value) VALUES ('created', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));",

    // 2: the shell. Times are unix seconds. Secrets (session, invite, share, admin tokens) are
    // stored only as SHA-256 hashes: a copy of the database does not log anyone in.
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  password_hash TEXT NOT NULL,"
    "  is_admin INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE sessions ("
    "  token_hash BLOB PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  csrf TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE TABLE admin_tokens (token_hash BLOB PRIMARY KEY, expires_at INTEGER NOT NULL);"
    "CREATE TABLE invites ("
    "  token_hash BLOB PRIMARY KEY,"
    "  created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  used_by INTEGER REFERENCES users(id) ON DELETE SET NULL);"
    "CREATE TABLE packages ("
    "  package_id TEXT PRIMARY KEY,"
    "  app_id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  marketing_version TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  description TEXT NOT NULL,"
    "  manifest BLOB NOT NULL,"
    "  added_at INTEGER NOT NULL);"
    "CREATE TABLE apps ("
    "  app_id TEXT PRIMARY KEY,"
    "  package_id TEXT NOT NULL REFERENCES packages(package_id),"
    "  pending_package_id TEXT REFERENCES packages(package_id),"
    "  installed_at INTEGER NOT NULL,"
    "  installed_by INTEGER REFERENCES users(id) ON DELETE SET NULL);"
    "CREATE TABLE grains ("
    "  id TEXT PRIMARY KEY,"
    "  owner_id INTEGER NOT NULL REFERENCES users(id),"
    "  app_id TEXT NOT NULL,"
    "  package_id TEXT NOT NULL REFERENCES packages(package_id),"
    "  action_index INTEGER NOT NULL,"
    "  title TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  last_opened_at INTEGER,"
    "  trashed_at INTEGER);"
    "CREATE INDEX grains_owner ON grains(owner_id);"
    "CREATE TABLE shares ("
    "  id INTEGER PRIMARY KEY,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  grain_id TEXT NOT NULL REFERENCES grains(id) ON DELETE CASCADE,"
    "  created_by INTEGER NOT NULL REFERENCES users(id),"
    "  role INTEGER NOT NULL,"
    "  label TEXT NOT NULL,"
    "  anonymous INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER);"
    "CREATE TABLE ports ("
    "  port INTEGER PRIMARY KEY,"
    "  grain_id TEXT NOT NULL,"
    "  assigned_at INTEGER NOT NULL);"
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",

    // 3: grains shared with an account: opening a sharing link while logged in adds the grain
    // to that person's list, with the link's role (revoking the link removes it).
    "CREATE TABLE grain_access ("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  grain_id TEXT NOT NULL REFERENCES grains(id) ON DELETE CASCADE,"
    "  share_id INTEGER NOT NULL REFERENCES shares(id) ON DELETE CASCADE,"
    "  added_at INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, grain_id));",
};

}  // namespace

kj::String DataDir::defaultPath() {
  if (geteuid() == 0) return kj::str("/var/lib/sandstorm");
  const char* xdg = getenv("XDG_DATA_HOME");
  if (xdg != nullptr && xdg[0] == '/') return kj::str(xdg, "/sandstorm");
  const char* home = getenv("HOME");
  KJ_REQUIRE(home != nullptr && home[0] == '/', "HOME is not set; pass --data-dir");
  return kj::str(home, "/.local/share/sandstorm");
}

DataDir::DataDir(kj::StringPtr path): dir(kj::heapString(path)) {
  // 0711: grains run as their own uid and must reach their storage and packages below here;
  // nothing is listable, and the store and lock files themselves are 0600.
  makeDirectories(dir, 0711);
  auto lockPath = kj::str(dir, "/sandstorm.lock");
  int fd;
  KJ_SYSCALL(fd = open(lockPath.cStr(), O_RDWR | O_CREAT | O_CLOEXEC, 0600), lockPath);
  lock = AutoCloseFd(fd);
  KJ_SYSCALL_HANDLE_ERRORS(flock(fd, LOCK_EX | LOCK_NB)) {
    case EWOULDBLOCK:
      KJ_FAIL_REQUIRE("another Sandstorm server is already using this data directory; stop it "
                      "first (or pass a different --data-dir)", dir);
    default:
      KJ_FAIL_SYSCALL("flock", error, lockPath);
  }
  // Record our pid for `sandstorm status`/`stop` (informational; the lock is the truth).
  auto pid = kj::str(getpid(), "\n");
  KJ_SYSCALL(ftruncate(fd, 0));
  KJ_SYSCALL(pwrite(fd, pid.begin(), pid.size(), 0));

  auto dbPath = kj::str(dir, "/sandstorm.sqlite3");
  int rc = sqlite3_open_v2(dbPath.cStr(), &database,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    kj::String message = kj::str(database != nullptr ? sqlite3_errmsg(database) : sqlite3_errstr(rc));
    sqlite3_close(database);
    database = nullptr;
    KJ_FAIL_REQUIRE("cannot open the store", dbPath, message);
  }
  // The destructor does not run if the constructor throws (e.g. a refused downgrade below).
  KJ_ON_SCOPE_FAILURE({
    sqlite3_close(database);
    database = nullptr;
  });
  // WAL: readers never block the writer; synchronous=FULL: an acknowledged write survives power
  // loss, not just a crash (facts/security.md §0.6).
  exec(database, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
  sqlite3_busy_timeout(database, 5000);
  migrate();
}

DataDir::~DataDir() noexcept(false) {
  if (database != nullptr) sqlite3_close(database);
}

void DataDir::migrate() {
  sqlite3_stmt* stmt = nullptr;
  KJ_REQUIRE(sqlite3_prepare_v2(database, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK);
  KJ_DEFER(sqlite3_finalize(stmt));
  KJ_REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  version = sqlite3_column_int(stmt, 0);
  int latest = static_cast<int>(kj::size(MIGRATIONS));
  KJ_REQUIRE(version <= latest,
             "this data directory was written by a newer Sandstorm; refusing to downgrade it",
             version, latest);
  for (; version < latest; version++) {
    // One transaction per step: a crash mid-migration leaves the previous version intact.
    exec(database, "BEGIN IMMEDIATE");
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
      exec(database, MIGRATIONS[version]);
      exec(database, kj::str("PRAGMA user_version = ", version + 1).cStr());
      exec(database, "COMMIT");
    })) {
      sqlite3_exec(database, "ROLLBACK", nullptr, nullptr, nullptr);
      kj::throwFatalException(kj::mv(*e));
    }
  }
}

}  // namespace ss::shell
