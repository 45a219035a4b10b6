#include "shell/sql.h"

#include <sqlite3.h>
#include <time.h>

#include <kj/debug.h>

namespace ss::shell {

Statement::Statement(sqlite3* db, kj::StringPtr sql, std::initializer_list<SqlValue> params)
    : db(db), sql(sql) {
  int rc = sqlite3_prepare_v2(db, sql.cStr(), static_cast<int>(sql.size()), &stmt, nullptr);
  KJ_REQUIRE(rc == SQLITE_OK, "SQLite prepare failed", sqlite3_errmsg(db), sql);
  int index = 1;
  for (auto& p: params) {
    switch (p.kind) {
      case SqlValue::INT: rc = sqlite3_bind_int64(stmt, index, p.i); break;
      case SqlValue::TEXT:
        rc = sqlite3_bind_text(stmt, index, p.text.cStr(), static_cast<int>(p.text.size()),
                               SQLITE_TRANSIENT);
        break;
      case SqlValue::BLOB:
        rc = sqlite3_bind_blob(stmt, index, p.blob.begin(), static_cast<int>(p.blob.size()),
                               SQLITE_TRANSIENT);
        break;
      case SqlValue::NUL: rc = sqlite3_bind_null(stmt, index); break;
    }
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      KJ_FAIL_REQUIRE("SQLite bind failed", sqlite3_errmsg(db), sql, index);
    }
    index++;
  }
}

Statement::~Statement() noexcept(false) { sqlite3_finalize(stmt); }

bool Statement::next() {
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  if (rc == SQLITE_FULL) KJ_FAIL_REQUIRE("the disk is full: the change was not saved", sql);
  KJ_FAIL_REQUIRE("SQLite step failed", sqlite3_errmsg(db), sql);
}

int64_t Statement::integer(int column) { return sqlite3_column_int64(stmt, column); }

kj::String Statement::text(int column) {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
  if (p == nullptr) return kj::str();
  return kj::heapString(p, sqlite3_column_bytes(stmt, column));
}

kj::Array<kj::byte> Statement::blob(int column) {
  auto p = reinterpret_cast<const kj::byte*>(sqlite3_column_blob(stmt, column));
  size_t n = sqlite3_column_bytes(stmt, column);
  auto out = kj::heapArray<kj::byte>(n);
  if (n > 0) memcpy(out.begin(), p, n);
  return out;
}

bool Statement::isNull(int column) { return sqlite3_column_type(stmt, column) == SQLITE_NULL; }

void sqlExec(sqlite3* db, kj::StringPtr sql, std::initializer_list<SqlValue> params) {
  Statement(db, sql, params).run();
}

int64_t sqlInteger(sqlite3* db, kj::StringPtr sql, std::initializer_list<SqlValue> params,
                   int64_t ifNone) {
  Statement s(db, sql, params);
  if (!s.next() || s.isNull(0)) return ifNone;
  return s.integer(0);
}

int64_t sqlChanges(sqlite3* db) { return sqlite3_changes(db); }
int64_t sqlLastInsertId(sqlite3* db) { return sqlite3_last_insert_rowid(db); }

int64_t unixNow() { return static_cast<int64_t>(time(nullptr)); }

}  // namespace ss::shell
