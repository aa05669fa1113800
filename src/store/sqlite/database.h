#pragma once

// The SQLite driver of the SQL layer (store/sql/statement.h): a connection to one database
// file and its prepared statements, returning Status.

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/sql/statement.h"

namespace kiln::store::sqlite {

using sql::Statement;

struct DatabaseDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DatabaseHandle = std::unique_ptr<sqlite3, DatabaseDeleter>;

class Database : public sql::Connection {
 public:
  // Opens (creating) the file with WAL journaling, a busy timeout and foreign keys on.
  static Result<Database> Open(const std::filesystem::path& path, int busy_timeout_ms);

  Result<Statement> Prepare(std::string_view sql) override;
  Status Execute(std::string_view sql) override;
  std::int64_t Changes() const override { return sqlite3_changes64(handle_.get()); }
  Status BeginWrite() override { return Execute("BEGIN IMMEDIATE"); }
  // SQLite writers queue on the busy timeout instead; there is nothing to retry.
  bool IsConflict(const Status&) const override { return false; }
  std::string Describe() const override { return path_.string(); }
  // A checkpoint that writes the WAL into the database and truncates the -wal file.
  Result<std::string> Compact() override;

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
