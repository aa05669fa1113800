#pragma once

// The team Store: a PostgreSQL database, through SqlStore. Every writer (CLI, launchers,
// a server) connects to the same database; SERIALIZABLE write transactions keep a run's
// history possible however they interleave.

#include <memory>
#include <string_view>

#include "common/time.h"
#include "store/sql/sql_store.h"

namespace kiln::store::postgres {

class PostgresStore {
 public:
  // `url`: postgresql://user[:password]@host[:port]/database. Connects and brings the
  // schema up to date.
  static Result<std::unique_ptr<sql::SqlStore>> Open(std::string_view url,
                                                     const Clock& clock = SystemClock());
};

}  // namespace kiln::store::postgres
