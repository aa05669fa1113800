#pragma once

// Kiln's schema, written once as numbered migrations (migrations.h) and rendered in the
// column types of each backend: the tables, keys and versions are the same everywhere.

#include <string_view>
#include <vector>

#include "store/sql/migrations.h"

namespace kiln::store::sql {

// The column types that differ between backends.
struct ColumnTypes {
  std::string_view id;             // an auto-assigned 64-bit primary key
  std::string_view bigint;         // a 64-bit integer: times in microseconds, counters, keys
  std::string_view real;           // a double
  std::string_view blob;           // bytes
  std::string_view without_rowid;  // what follows a table keyed by its primary key alone
};

std::vector<Migration> KilnMigrations(const ColumnTypes& types);

}  // namespace kiln::store::sql
