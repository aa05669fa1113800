#pragma once

// Kiln's schema (store/sql/schema.h) in SQLite's types.

#include "common/status.h"
#include "store/sqlite/database.h"

namespace kiln::store::sqlite {

// The newest schema version this Kiln knows.
int LatestSchemaVersion();

// FailedPrecondition when the file was written by a newer Kiln (a higher version).
Status Migrate(Database& db);
// Applies the migrations up to `version` only: a store as an older Kiln left it, for tests
// of the migrations after it.
Status MigrateTo(Database& db, int version);

}  // namespace kiln::store::sqlite
