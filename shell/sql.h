// A thin, checked layer over SQLite: prepared statements with typed binds and reads, and
// transactions that roll back on any exception. Every SQLite error becomes a KJ exception that
// names the statement.
#pragma once

#include <stdint.h>

#include <initializer_list>
#include <type_traits>

#include <kj/array.h>
#include <kj/common.h>
#include <kj/string.h>

struct sqlite3;
struct sqlite3_stmt;

namespace ss::shell {

struct SqlNull {};

// One bound value: integer, text, blob or NULL.
class SqlValue {
public:
  SqlValue(int64_t v): kind(INT), i(v) {}
  SqlValue(int v): kind(INT), i(v) {}
  SqlValue(uint32_t v): kind(INT), i(v) {}
  SqlValue(bool v): kind(INT), i(v ? 1 : 0) {}
  SqlValue(kj::StringPtr v): kind(TEXT), text(v) {}
  SqlValue(const char* v): kind(TEXT), text(v) {}
  SqlValue(const kj::String& v): kind(TEXT), text(v) {}
  SqlValue(kj::ArrayPtr<const kj::byte> v): kind(BLOB), blob(v) {}
  SqlValue(kj::ArrayPtr<kj::byte> v): kind(BLOB), blob(v) {}
  SqlValue(SqlNull): kind(NUL) {}

  enum Kind { INT, TEXT, BLOB, NUL } kind;
  int64_t i = 0;
  kj::StringPtr text;
  kj::ArrayPtr<const kj::byte> blob;
};

class Statement {
public:
  Statement(sqlite3* db, kj::StringPtr sql, std::initializer_list<SqlValue> params = {});
  ~Statement() noexcept(false);
  KJ_DISALLOW_COPY(Statement);

  bool next();
  // Steps: true while a row is available; false when done.
  void run() { while (next()) {} }

  int64_t integer(int column);
  kj::String text(int column);
  kj::Array<kj::byte> blob(int column);
  bool isNull(int column);

private:
  sqlite3* db;
  sqlite3_stmt* stmt = nullptr;
  kj::StringPtr sql;
};

void sqlExec(sqlite3* db, kj::StringPtr sql, std::initializer_list<SqlValue> params = {});
int64_t sqlInteger(sqlite3* db, kj::StringPtr sql, std::initializer_list<SqlValue> params = {},
                   int64_t ifNone = 0);
// The first column of the first row, or `ifNone`.
int64_t sqlChanges(sqlite3* db);
int64_t sqlLastInsertId(sqlite3* db);

template <typename Func>
auto sqlTransaction(sqlite3* db, Func&& func) -> decltype(func()) {
  // IMMEDIATE: take the write lock up front, so two writers never deadlock on upgrade.
  sqlExec(db, "BEGIN IMMEDIATE");
  bool committed = false;
  KJ_DEFER(if (!committed) sqlExec(db, "ROLLBACK"));
  if constexpr (std::is_void_v<decltype(func())>) {
    func();
    sqlExec(db, "COMMIT");
    committed = true;
  } else {
    auto result = func();
    sqlExec(db, "COMMIT");
    committed = true;
    return result;
  }
}

int64_t unixNow();
// Wall-clock seconds, for timestamps stored in the database.

}  // namespace ss::shell
