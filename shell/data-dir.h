// The server's data directory: created on first start, locked while a server uses it, and home
// of the SQLite store (WAL mode). Layout (documented in README.md):
//   <data-dir>/sandstorm.lock      held (flock) by the running server
//   <data-dir>/sandstorm.sqlite3   users, apps, grains, shares... (schema versioned)
#pragma once

#include <kj/string.h>

#include "base/fd.h"

struct sqlite3;

namespace ss::shell {

class DataDir {
public:
  explicit DataDir(kj::StringPtr path);
  // Creates the directory (0700, parents too), takes the lock — failing with a clear message if
  // another server holds it — and opens the store, applying schema migrations.
  ~DataDir() noexcept(false);
  KJ_DISALLOW_COPY(DataDir);

  kj::StringPtr path() const { return dir; }
  sqlite3* db() { return database; }
  int schemaVersion() const { return version; }

  static kj::String defaultPath();
  // /var/lib/sandstorm for root, else $XDG_DATA_HOME/sandstorm or ~/.local/share/sandstorm.

private:
  void migrate();
  kj::String dir;
  AutoCloseFd lock;
  sqlite3* database = nullptr;
  int version = 0;
};

}  // namespace ss::shell
