#pragma once

// The SQLite schema as numbered migrations (store/sql/migrations.h).

#include "common/status.h"
#include "store/sqlite/database.h"

namespace kiln::store::sqlite {

// The newest schema version this Kiln knows.
int LatestSchemaVersion();

// FailedPrecondition when the file was written by a newer Kiln (a higher version).
Status Migrate(Database& db);

}  // namespace kiln::store::sqlite
