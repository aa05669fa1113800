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

}  // namespace kiln::store::postgres
