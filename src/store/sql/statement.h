#pragma once

// The SQL layer the relational Store backends share (sql_store.h): a prepared Statement and
// a Connection, each over a driver (SQLite, PostgreSQL). SQL text is written once, with
// positional parameters `?` or `?N` (1-based); a driver whose database spells them
// otherwise rewrites them. Not thread-safe: the store serialises access.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln::store::sql {

// What a driver implements for one prepared statement. Bind indexes are 1-based and
// columns 0-based; columns are read after Step() returned true.
class StatementDriver {
 public:
  virtual ~StatementDriver() = default;
  virtual Status BindText(int index, std::string_view value) = 0;
  virtual Status BindInt(int index, std::int64_t value) = 0;
  virtual Status BindDouble(int index, double value) = 0;
  virtual Status BindBlob(int index, std::string_view bytes) = 0;
  virtual Status BindNull(int index) = 0;
  // Ready to run again; bindings are cleared.
  virtual void Reset() = 0;
  virtual Result<bool> Step() = 0;
  virtual bool ColumnIsNull(int column) const = 0;
  virtual std::string ColumnText(int column) const = 0;
  // Valid until the next Step() or Reset().
  virtual std::string_view ColumnBlob(int column) const = 0;
  virtual double ColumnDouble(int column) const = 0;
  virtual std::int64_t ColumnInt(int column) const = 0;
};

// One prepared statement. Binding errors are kept and returned by the next Step() or Run(),
// so bindings chain: statement.Bind(1, a).Bind(2, b).Run().
class Statement {
 public:
  explicit Statement(std::unique_ptr<StatementDriver> driver) : driver_(std::move(driver)) {}

  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, std::int64_t value);
  Statement& BindBlob(int index, std::string_view bytes);
  // NULL when the value is absent.
  Statement& BindNullable(int index, const std::optional<std::string>& value);
  Statement& BindNullable(int index, const std::optional<std::int64_t>& value);
  Statement& BindNullable(int index, const std::optional<double>& value);

  void Reset();
  // Advances; true when a row is available, false when done.
  Result<bool> Step();
  // Runs a statement that returns no rows.
  Status Run();

  std::string ColumnText(int column) const { return driver_->ColumnText(column); }
  std::string_view ColumnBlob(int column) const { return driver_->ColumnBlob(column); }
  double ColumnDouble(int column) const { return driver_->ColumnDouble(column); }
  std::int64_t ColumnInt(int column) const { return driver_->ColumnInt(column); }
  bool ColumnIsNull(int column) const { return driver_->ColumnIsNull(column); }
  std::optional<double> ColumnOptionalDouble(int column) const;
  std::optional<std::string> ColumnOptionalText(int column) const;
  std::optional<std::int64_t> ColumnOptionalInt(int column) const;

 private:
  Statement& Note(Status status);

  std::unique_ptr<StatementDriver> driver_;
  Status bind_error_;
};

// A connection to one database.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Result<Statement> Prepare(std::string_view sql) = 0;
  // Runs one or more statements without results.
  virtual Status Execute(std::string_view sql) = 0;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  virtual std::int64_t Changes() const = 0;
  // Starts a transaction that will write, such that concurrent writers cannot interleave
  // a read and a write of it (SQLite: BEGIN IMMEDIATE; PostgreSQL: SERIALIZABLE).
  virtual Status BeginWrite() = 0;
  // True when a transaction failed only because a concurrent one won, so running it again
  // may succeed (PostgreSQL's serialization failures and deadlocks).
  virtual bool IsConflict(const Status& status) const = 0;
  // What the store is, for messages: a file path or host:port/database.
  virtual std::string Describe() const = 0;
  // Returns the journal's space to the filesystem where the database keeps one that grows
  // (SQLite's WAL); says what it did.
  virtual Result<std::string> Compact() { return std::string("nothing to compact"); }
};

}  // namespace kiln::store::sql
