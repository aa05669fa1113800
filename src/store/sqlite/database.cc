#include "store/sqlite/database.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/strings.h"

namespace kiln::store::sqlite {

Status SqliteError(sqlite3* db, int code, std::string_view what) {
  const std::string detail = db != nullptr ? sqlite3_errmsg(db) : std::string(sqlite3_errstr(code));
  const std::string message = fmt::format("{}: {}", what, detail);
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(message + " (the store is busy; try again)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(message);
    case SQLITE_CONSTRAINT:
      return AlreadyExistsError(message);
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: {
      // What the user can fix is the file or its folder, not the statement: name the file.
      const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
      if (file == nullptr || *file == '\0') return FailedPreconditionError(message);
      return FailedPreconditionError(fmt::format(
          "the store {} cannot be {} ({}): make it and its folder writable for this user, or "
          "set KILN_HOME or KILN_STORE to a store this user may write",
          file, (code & 0xff) == SQLITE_CANTOPEN ? "opened" : "written", detail));
    }
    default:
      return InternalError(message);
  }
}

namespace {

struct StatementDeleter {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};

class SqliteStatement : public sql::StatementDriver {
 public:
  SqliteStatement(sqlite3_stmt* handle, sqlite3* db) : handle_(handle), db_(db) {}

  Status BindText(int index, std::string_view value) override {
    return Check(sqlite3_bind_text(handle_.get(), index, value.data(),
                                   static_cast<int>(value.size()), SQLITE_TRANSIENT));
  }
  Status BindInt(int index, std::int64_t value) override {
    return Check(sqlite3_bind_int64(handle_.get(), index, value));
  }
  Status BindDouble(int index, double value) override {
    return Check(sqlite3_bind_double(handle_.get(), index, value));
  }
  Status BindBlob(int index, std::string_view bytes) override {
    return Check(sqlite3_bind_blob(handle_.get(), index, bytes.data(),
                                   static_cast<int>(bytes.size()), SQLITE_TRANSIENT));
  }
  Status BindNull(int index) override { return Check(sqlite3_bind_null(handle_.get(), index)); }

  void Reset() override {
    sqlite3_reset(handle_.get());
    sqlite3_clear_bindings(handle_.get());
  }

  Result<bool> Step() override {
    const int rc = sqlite3_step(handle_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(db_, rc, fmt::format("run '{}'", sqlite3_sql(handle_.get())));
  }

  bool ColumnIsNull(int column) const override {
    return sqlite3_column_type(handle_.get(), column) == SQLITE_NULL;
  }
  std::string ColumnText(int column) const override {
    const unsigned char* text = sqlite3_column_text(handle_.get(), column);
    const int size = sqlite3_column_bytes(handle_.get(), column);
    if (text == nullptr) return "";
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
  }
  std::string_view ColumnBlob(int column) const override {
    const void* data = sqlite3_column_blob(handle_.get(), column);
    const int size = sqlite3_column_bytes(handle_.get(), column);
    if (data == nullptr) return {};
    return std::string_view(static_cast<const char*>(data), static_cast<std::size_t>(size));
  }
  double ColumnDouble(int column) const override {
    return sqlite3_column_double(handle_.get(), column);
  }
  std::int64_t ColumnInt(int column) const override {
    return sqlite3_column_int64(handle_.get(), column);
  }

 private:
  Status Check(int rc) const {
    return rc == SQLITE_OK ? Status::Ok() : SqliteError(db_, rc, "bind");
  }

  std::unique_ptr<sqlite3_stmt, StatementDeleter> handle_;
  sqlite3* db_;
};

}  // namespace

Result<Database> Database::Open(const std::filesystem::path& path, int busy_timeout_ms) {
  std::error_code error;
  const bool fresh =
      !std::filesystem::exists(path, error) || std::filesystem::file_size(path, error) == 0;
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DatabaseHandle handle(raw);
  if (rc != SQLITE_OK) {
    return SqliteError(raw, rc, fmt::format("cannot open the store {}", path.string()));
  }
  sqlite3_busy_timeout(raw, busy_timeout_ms);
  // Kiln's processes are short (each command, each launcher): without this, each one that
  // closes the store last checkpoints it and deletes the WAL (two fdatasyncs), and the next
  // recreates it. The WAL is checkpointed anyway once it grows past 1000 pages, and
  // journal_size_limit (below) cuts the file back to 64 MiB after each checkpoint, so it
  // stays bounded; `kiln gc` truncates it (Compact).
  sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  Database db(std::move(handle), path);
  // Metric blocks are large BLOBs; on 64 KiB pages they take a sixteenth of the overflow
  // pages and write about twice as fast. The page size of a file is fixed once it holds
  // data, so only a new file gets it.
  if (fresh) KILN_RETURN_IF_ERROR(db.Execute("PRAGMA page_size=65536"));
  // WAL lets readers run while one writer commits; NORMAL sync keeps every commit atomic
  // and loses at most the last commits on power loss, never the file. Switching a new file
  // to WAL can fail with BUSY at once, without the busy handler (SQLite's way of avoiding a
  // deadlock between openers), so it is retried here for as long as the busy timeout.
  constexpr std::chrono::milliseconds kRetryPause{5};
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  while (true) {
    Status pragmas = db.Execute(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
        "PRAGMA journal_size_limit=67108864;");
    if (pragmas.ok()) return db;
    if (pragmas.code() != StatusCode::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline) {
      return pragmas;
    }
    std::this_thread::sleep_for(kRetryPause);
  }
}

Result<std::string> Database::Compact() {
  const std::filesystem::path wal = path_.string() + "-wal";
  const auto size = [&] {
    std::error_code error;
    const std::uintmax_t bytes = std::filesystem::file_size(wal, error);
    return error ? std::uintmax_t{0} : bytes;
  };
  const std::uintmax_t before = size();
  int frames = 0;
  int copied = 0;
  const int rc = sqlite3_wal_checkpoint_v2(handle_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                           &frames, &copied);
  if (rc == SQLITE_BUSY) {
    return fmt::format(
        "WAL {} left as it is: a reader or writer held it for the whole busy "
        "timeout; run kiln gc again when the store is quieter",
        HumanBytes(before));
  }
  if (rc != SQLITE_OK) return SqliteError(handle_.get(), rc, "checkpoint the WAL");
  return fmt::format("WAL {} -> {}", HumanBytes(before), HumanBytes(size()));
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc =
      sqlite3_prepare_v2(handle_.get(), sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  if (rc != SQLITE_OK) return SqliteError(handle_.get(), rc, fmt::format("prepare '{}'", sql));
  return Statement(std::make_unique<SqliteStatement>(raw, handle_.get()));
}

Status Database::Execute(std::string_view sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(handle_.get(), std::string(sql).c_str(), nullptr, nullptr, &error);
  if (error != nullptr) sqlite3_free(error);
  if (rc != SQLITE_OK) return SqliteError(handle_.get(), rc, fmt::format("execute '{}'", sql));
  return Status::Ok();
}

}  // namespace kiln::store::sqlite
