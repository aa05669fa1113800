#include "store/postgres/postgres_store.h"

#include "store/postgres/connection.h"
#include "store/postgres/schema.h"

namespace kiln::store::postgres {

Result<std::unique_ptr<sql::SqlStore>> PostgresStore::Open(std::string_view url,
                                                           const Clock& clock) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Connection> db, Connection::Open(url));
  KILN_RETURN_IF_ERROR(Migrate(*db));
  return std::make_unique<sql::SqlStore>(std::move(db), clock);
}

}  // namespace kiln::store::postgres
