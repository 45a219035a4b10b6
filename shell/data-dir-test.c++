#include "shell/data-dir.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include "tests/test-support.h"

TEST_CASE("the data directory is created unlistable, locked, and holds a migrated store",
          "[shell]") {
  ss::test::TempDir temp;
  auto path = temp.file("a/b/data");
  {
    ss::shell::DataDir data(path);
    CHECK(data.schemaVersion() >= 1);
    struct stat st;
    REQUIRE(stat(path.cStr(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0711);  // traversable by grains, not listable
    REQUIRE(stat(kj::str(path, "/sandstorm.sqlite3").cStr(), &st) == 0);

    // A second server on the same directory is refused with an explanation.
    REQUIRE_THROWS_WITH(ss::shell::DataDir(path), Catch::Contains("already using"));

    sqlite3_stmt* stmt;
    REQUIRE(sqlite3_prepare_v2(data.db(), "PRAGMA journal_mode", -1, &stmt, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))) == "wal");
    sqlite3_finalize(stmt);
  }
  // Released on destruction: a restart reopens the same store without re-running migrations.
  ss::shell::DataDir again(path);
  CHECK(again.schemaVersion() >= 1);
  sqlite3_exec(again.db(), "PRAGMA user_version = 999", nullptr, nullptr, nullptr);
}

TEST_CASE("a store from a newer version is not downgraded", "[shell]") {
  ss::test::TempDir temp;
  {
    ss::shell::DataDir data(temp.path());
    sqlite3_exec(data.db(), "PRAGMA user_version = 999", nullptr, nullptr, nullptr);
  }
  REQUIRE_THROWS_WITH(ss::shell::DataDir(temp.path()), Catch::Contains("newer Sandstorm"));
}
