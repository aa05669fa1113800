#pragma once

// The SQLite schema as numbered migrations. A store file records which were applied in
// schema_migrations; opening it applies the rest in order in one transaction, so
// several processes opening an old file at once upgrade it exactly once.
// Migrations are append-only: a released one is never edited.

#include "common/status.h"
#include "store/sqlite/database.h"

namespace kiln::store::sqlite {

// The newest schema version this Kiln knows.
int LatestSchemaVersion();

// FailedPrecondition when the file was written by a newer Kiln (a higher version).
Status Migrate(Database& db);

}  // namespace kiln::store::sqlite
