#include "store/sql/migrations.h"

#include <fmt/format.h>

#include "common/time.h"

namespace kiln::store::sql {
namespace {

// The applied version, read outside a write transaction; 0 for a new store.
int AppliedVersion(Connection& db) {
  auto query = db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!query.ok()) return 0;  // No table yet.
  auto row = query->Step();
  return row.ok() && *row ? static_cast<int>(query->ColumnInt(0)) : 0;
}

Status ApplyMissing(Connection& db, std::span<const Migration> migrations) {
  KILN_RETURN_IF_ERROR(db.Execute(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      "  version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)"));
  KILN_ASSIGN_OR_RETURN(Statement current,
                        db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  KILN_RETURN_IF_ERROR(current.Step().status());
  const int applied = static_cast<int>(current.ColumnInt(0));
  if (applied > LatestVersion(migrations)) {
    return FailedPreconditionError(fmt::format(
        "the store {} has schema version {}, newer than this Kiln's {}; use a newer kiln",
        db.Describe(), applied, LatestVersion(migrations)));
  }
  for (const Migration& migration : migrations) {
    if (migration.version <= applied) continue;
    KILN_RETURN_IF_ERROR(db.Execute(migration.sql)
                             .WithPrefix(fmt::format("schema migration {}", migration.version)));
    KILN_ASSIGN_OR_RETURN(
        Statement record,
        db.Prepare(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)"));
    KILN_RETURN_IF_ERROR(record.Bind(1, static_cast<std::int64_t>(migration.version))
                             .Bind(2, migration.description)
                             .Bind(3, SystemClock().Now())
                             .Run());
  }
  return Status::Ok();
}

}  // namespace

int LatestVersion(std::span<const Migration> migrations) { return migrations.back().version; }

Status Migrate(Connection& db, std::span<const Migration> migrations) {
  // Most opens find the schema current: they read, and never queue for the write lock.
  if (AppliedVersion(db) == LatestVersion(migrations)) return Status::Ok();
  KILN_RETURN_IF_ERROR(db.BeginWrite());
  Status status = ApplyMissing(db, migrations);
  if (status.ok()) status = db.Execute("COMMIT");
  if (!status.ok()) db.Execute("ROLLBACK").IgnoreError();
  return status;
}

}  // namespace kiln::store::sql
