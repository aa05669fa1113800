// SqlStore's registered job environments: versions per name.

#include <fmt/format.h>

#include "store/sql/sql_store.h"

namespace kiln::store::sql {
namespace {

constexpr std::string_view kColumns = "name, version, definition_json, created_at";

EnvironmentVersion FromRow(const Statement& row) {
  return {row.ColumnText(0), row.ColumnInt(1), row.ColumnText(2), row.ColumnInt(3)};
}

}  // namespace

Result<EnvironmentVersion> SqlStore::RegisterEnvironment(std::string_view name,
                                                         std::string_view definition_json) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  EnvironmentVersion stored;
  Status status = InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(
        Statement latest,
        db->Prepare(fmt::format("SELECT {} FROM environment_versions WHERE name = ? "
                                "ORDER BY version DESC LIMIT 1",
                                kColumns)));
    latest.Bind(1, name);
    KILN_ASSIGN_OR_RETURN(const bool found, latest.Step());
    if (found && latest.ColumnText(2) == definition_json) {
      stored = FromRow(latest);
      return Status::Ok();
    }
    stored = {std::string(name), found ? latest.ColumnInt(1) + 1 : 1, std::string(definition_json),
              clock_.Now()};
    KILN_ASSIGN_OR_RETURN(
        Statement insert,
        db->Prepare("INSERT INTO environment_versions (name, version, definition_json, "
                    "created_at) VALUES (?, ?, ?, ?)"));
    return insert.Bind(1, stored.name)
        .Bind(2, stored.version)
        .Bind(3, stored.definition_json)
        .Bind(4, stored.created_at)
        .Run();
  });
  KILN_RETURN_IF_ERROR(status);
  return stored;
}

Result<EnvironmentVersion> SqlStore::GetEnvironment(std::string_view name, std::int64_t version) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare(fmt::format("SELECT {} FROM environment_versions WHERE name = ? {} "
                              "ORDER BY version DESC LIMIT 1",
                              kColumns, version > 0 ? "AND version = ?" : "")));
  query.Bind(1, name);
  if (version > 0) query.Bind(2, version);
  KILN_ASSIGN_OR_RETURN(const bool found, query.Step());
  if (found) return FromRow(query);
  KILN_ASSIGN_OR_RETURN(Statement count,
                        db->Prepare("SELECT COALESCE(MAX(version), 0) FROM environment_versions "
                                    "WHERE name = ?"));
  count.Bind(1, name);
  KILN_RETURN_IF_ERROR(count.Step().status());
  const std::int64_t latest = count.ColumnInt(0);
  if (latest == 0) {
    return NotFoundError(fmt::format(
        "no environment named '{}' is registered; `kiln env list` shows those that are, "
        "`kiln env register FILE` adds one",
        name));
  }
  return NotFoundError(fmt::format("environment '{}' has no version {}; it has versions 1 to {}",
                                   name, version, latest));
}

Result<std::vector<EnvironmentVersion>> SqlStore::ListEnvironments(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  const std::string sql =
      name.empty() ? fmt::format(
                         "SELECT {} FROM environment_versions e WHERE version = (SELECT "
                         "MAX(version) FROM environment_versions l WHERE l.name = e.name) "
                         "ORDER BY name",
                         kColumns)
                   : fmt::format(
                         "SELECT {} FROM environment_versions WHERE name = ? "
                         "ORDER BY version DESC",
                         kColumns);
  KILN_ASSIGN_OR_RETURN(Statement query, db->Prepare(sql));
  if (!name.empty()) query.Bind(1, name);
  std::vector<EnvironmentVersion> versions;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    versions.push_back(FromRow(query));
  }
  return versions;
}

}  // namespace kiln::store::sql
