#include "store/sqlite/schema.h"

#include "store/sql/schema.h"

namespace kiln::store::sqlite {
namespace {

const std::vector<sql::Migration>& Migrations() {
  static const std::vector<sql::Migration> migrations = sql::KilnMigrations({
      .id = "INTEGER PRIMARY KEY",  // the rowid
      .bigint = "INTEGER",          // SQLite's integers are 64-bit
      .real = "REAL",
      .blob = "BLOB",
      .without_rowid = " WITHOUT ROWID",
  });
  return migrations;
}

}  // namespace

int LatestSchemaVersion() { return sql::LatestVersion(Migrations()); }

Status Migrate(Database& db) { return sql::Migrate(db, Migrations()); }

Status MigrateTo(Database& db, int version) {
  const std::vector<sql::Migration>& all = Migrations();
  std::size_t count = 0;
  while (count < all.size() && all[count].version <= version) ++count;
  return sql::Migrate(db, std::span<const sql::Migration>(all.data(), count));
}

}  // namespace kiln::store::sqlite
