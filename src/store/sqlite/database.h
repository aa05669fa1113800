#pragma once

// Thin RAII wrappers over the SQLite C API, returning Status. Not thread-safe: the owner
// (SqliteStore) serialises access.

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln::store::sqlite {

struct DatabaseDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementDeleter {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using DatabaseHandle = std::unique_ptr<sqlite3, DatabaseDeleter>;
using StatementHandle = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

// One prepared statement. Bind parameters are 1-based, columns 0-based.
class Statement {
 public:
  explicit Statement(StatementHandle handle, sqlite3* db) : handle_(std::move(handle)), db_(db) {}

  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, std::int64_t value);
  // Binds bytes as a BLOB.
  Statement& BindBlob(int index, std::string_view bytes);
  // NULL when the value is absent.
  Statement& BindNullable(int index, const std::optional<std::string>& value);
  Statement& BindNullable(int index, const std::optional<std::int64_t>& value);
  Statement& BindNullable(int index, const std::optional<double>& value);

  // Ready to run again with new bindings.
  void Reset();

  // Advances; true when a row is available, false when done.
  Result<bool> Step();
  // Runs a statement that returns no rows.
  Status Run();

  std::string ColumnText(int column) const;
  // Valid until the next Step() or Reset().
  std::string_view ColumnBlob(int column) const;
  double ColumnDouble(int column) const;
  std::optional<double> ColumnOptionalDouble(int column) const;
  std::int64_t ColumnInt(int column) const;
  bool ColumnIsNull(int column) const;
  std::optional<std::string> ColumnOptionalText(int column) const;
  std::optional<std::int64_t> ColumnOptionalInt(int column) const;

 private:
  StatementHandle handle_;
  sqlite3* db_;
  Status bind_error_;
};

class Database {
 public:
  // Opens (creating) the file with WAL journaling, a busy timeout and foreign keys on.
  static Result<Database> Open(const std::filesystem::path& path, int busy_timeout_ms);

  Result<Statement> Prepare(std::string_view sql);
  // Runs one or more statements without results.
  Status Execute(std::string_view sql);

  sqlite3* get() const { return handle_.get(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  Database(DatabaseHandle handle, std::filesystem::path path)
      : handle_(std::move(handle)), path_(std::move(path)) {}

  DatabaseHandle handle_;
  std::filesystem::path path_;
};

// Maps an SQLite result code to a Status: BUSY and LOCKED are Unavailable (retry),
// CORRUPT and NOTADB are DataLoss, CONSTRAINT is AlreadyExists, others Internal.
Status SqliteError(sqlite3* db, int code, std::string_view what);

}  // namespace kiln::store::sqlite
