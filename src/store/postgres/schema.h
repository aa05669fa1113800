#pragma once

// Kiln's schema (store/sql/schema.h) in PostgreSQL's types: BIGINT times and counters,
// identity keys, BYTEA blocks.

#include "common/status.h"
#include "store/postgres/connection.h"

namespace kiln::store::postgres {

int LatestSchemaVersion();

// Applies the missing migrations, holding an advisory lock so that servers opening a new
// database at once do not race on its DDL.
Status Migrate(Connection& db);
// Applies the migrations up to `version` only: a store as an older Kiln left it, for tests
// of the migrations after it.
Status MigrateTo(Connection& db, int version);

}  // namespace kiln::store::postgres
