#pragma once

// Schema migrations of an SQL store: numbered steps, each one or more statements. The store
// records the applied ones in schema_migrations; opening it applies the rest in order in
// one write transaction, so several processes opening an old store at once upgrade it
// exactly once. Migrations are append-only: a released one is never edited. Kiln's own are
// in schema.h, rendered in each backend's column types.

#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/sql/statement.h"

namespace kiln::store::sql {

struct Migration {
  int version;
  std::string_view description;
  std::string sql;
};

// The newest version in `migrations` (sorted by version).
int LatestVersion(std::span<const Migration> migrations);

// FailedPrecondition when the store was written by a newer Kiln (a higher version).
Status Migrate(Connection& db, std::span<const Migration> migrations);

}  // namespace kiln::store::sql
