// SqlStore's compute target methods.

#include <fmt/format.h>

#include "store/sql/sql_store.h"

namespace kiln::store::sql {
namespace {

constexpr std::string_view kTargetColumns = "name, type, config, created_at";

ComputeTargetRecord ReadTarget(const Statement& row) {
  return {row.ColumnText(0), row.ColumnText(1), row.ColumnText(2), row.ColumnInt(3)};
}

Status UnknownTarget(std::string_view name) {
  return NotFoundError(fmt::format("compute target '{}' is not registered", name));
}

}  // namespace

Status SqlStore::AddComputeTarget(const ComputeTargetRecord& target) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(
        Statement insert,
        db->Prepare("INSERT INTO compute_targets (name, type, config, created_at) "
                    "VALUES (?, ?, ?, ?)"));
    const Status inserted = insert.Bind(1, target.name)
                                .Bind(2, target.type)
                                .Bind(3, target.config_json)
                                .Bind(4, clock_.Now())
                                .Run();
    if (inserted.code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError(
          fmt::format("compute target '{}' is registered already", target.name));
    }
    return inserted;
  });
}

Result<ComputeTargetRecord> SqlStore::GetComputeTarget(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare(fmt::format("SELECT {} FROM compute_targets WHERE name = ?", kTargetColumns)));
  query.Bind(1, name);
  KILN_ASSIGN_OR_RETURN(const bool found, query.Step());
  if (!found) return UnknownTarget(name);
  return ReadTarget(query);
}

Result<std::vector<ComputeTargetRecord>> SqlStore::ListComputeTargets() {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare(fmt::format("SELECT {} FROM compute_targets ORDER BY name", kTargetColumns)));
  std::vector<ComputeTargetRecord> targets;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    targets.push_back(ReadTarget(query));
  }
  return targets;
}

Status SqlStore::RemoveComputeTarget(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement remove,
                          db->Prepare("DELETE FROM compute_targets WHERE name = ?"));
    KILN_RETURN_IF_ERROR(remove.Bind(1, name).Run());
    if (db->Changes() == 0) return UnknownTarget(name);
    return Status::Ok();
  });
}

}  // namespace kiln::store::sql
