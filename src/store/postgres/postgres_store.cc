#include "store/postgres/postgres_store.h"

#include <chrono>

#include "common/tunables.h"
#include "store/postgres/connection.h"
#include "store/postgres/schema.h"

namespace kiln::store::postgres {

Result<std::unique_ptr<sql::SqlStore>> PostgresStore::Open(std::string_view url,
                                                           const Clock& clock) {
  KILN_ASSIGN_OR_RETURN(const std::int64_t pool_size, ReadTunable(kPgPoolSize));
  KILN_ASSIGN_OR_RETURN(const std::int64_t statement_ms, ReadTunable(kPgStatementTimeoutMs));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Connection> db, Connection::Open(url));
  KILN_RETURN_IF_ERROR(Migrate(*db));
  sql::ConnectionPool::Opener open =
      [url = std::string(url)]() -> Result<std::unique_ptr<sql::Connection>> {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Connection> more, Connection::Open(url));
    return std::unique_ptr<sql::Connection>(std::move(more));
  };
  // A call waits for a connection about as long as a statement may run: past that, the
  // calls ahead of it are stuck, not slow.
  const std::chrono::milliseconds wait =
      statement_ms > 0 ? std::chrono::milliseconds(statement_ms + 5000) : std::chrono::hours(1);
  return std::make_unique<sql::SqlStore>(std::move(db), clock, std::move(open),
                                         static_cast<std::size_t>(pool_size), wait);
}

}  // namespace kiln::store::postgres
