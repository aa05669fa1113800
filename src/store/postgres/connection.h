#pragma once

// The PostgreSQL driver of the SQL layer (store/sql/statement.h), over libpq.
//
// Statements are sent with PQexecParams, every parameter typed (text, int8, float8, or
// bytea sent as binary), so the queries SqlStore writes for SQLite run unchanged: their
// `?` and `?N` parameters become `$N`. Results come back as text. A write transaction is
// SERIALIZABLE; a serialization failure or deadlock is an Aborted status, which
// IsConflict() recognises so that SqlStore runs the transaction again.

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/sql/statement.h"

namespace kiln::store::postgres {

struct ConnectionDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};

class Connection : public sql::Connection {
 public:
  // `url` is a libpq connection URI (postgresql://user@host:port/database). Unavailable
  // when the server cannot be reached.
  static Result<std::unique_ptr<Connection>> Open(std::string_view url);

  Result<sql::Statement> Prepare(std::string_view sql) override;
  Status Execute(std::string_view sql) override;
  std::int64_t Changes() const override { return changes_; }
  Status BeginWrite() override { return Execute("BEGIN ISOLATION LEVEL SERIALIZABLE"); }
  bool IsConflict(const Status& status) const override {
    return status.code() == StatusCode::kAborted;
  }
  // host:port/database, never the password.
  std::string Describe() const override;

  PGconn* get() const { return conn_.get(); }
  // Called by statements with each command's result.
  void NoteChanges(PGresult* result);
  // After a command failed: when the connection is broken (the server restarted) and no
  // transaction was open on it, connects again and returns true, so the command can be sent
  // once more. Inside a transaction the failure stands (its writes are gone).
  bool Reconnected();

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}

  std::unique_ptr<PGconn, ConnectionDeleter> conn_;
  std::int64_t changes_ = 0;
  bool in_transaction_ = false;  // BEGIN sent, COMMIT or ROLLBACK not yet
};

// The SQL with `?` and `?N` parameters written as `$N`; quoted text is left alone.
std::string NumberParameters(std::string_view sql);

// A failed result as a Status, by its SQLSTATE: unique and other integrity violations are
// AlreadyExists, serialization failures and deadlocks Aborted, connection failures
// Unavailable, others Internal.
Status PostgresError(const PGresult* result, PGconn* conn, std::string_view what);

}  // namespace kiln::store::postgres
