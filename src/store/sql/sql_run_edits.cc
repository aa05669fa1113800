// SqlStore::EditRun: what describes a run (name, description, tags, archived), changed at
// any time in one transaction.

#include <fmt/format.h>

#include "store/sql/sql_store.h"

namespace kiln::store::sql {

Result<Run> SqlStore::EditRun(std::string_view id, const RunEdit& edit) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  const Timestamp now = clock_.Now();
  Status status = InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(const RunStatus run_status, CurrentStatus(*db, id));
    const auto set_column = [&](std::string_view column, const std::string& value) -> Status {
      KILN_ASSIGN_OR_RETURN(Statement update, db->Prepare(fmt::format(
                                                  "UPDATE runs SET {} = ? WHERE id = ?", column)));
      return update.Bind(1, value).Bind(2, id).Run();
    };
    if (edit.display_name) KILN_RETURN_IF_ERROR(set_column("display_name", *edit.display_name));
    if (edit.description) KILN_RETURN_IF_ERROR(set_column("description", *edit.description));
    for (const std::string& key : edit.remove_tags) {
      KILN_ASSIGN_OR_RETURN(Statement remove,
                            db->Prepare("DELETE FROM run_tags WHERE run_id = ? AND key = ?"));
      KILN_RETURN_IF_ERROR(remove.Bind(1, id).Bind(2, key).Run());
    }
    for (const auto& [key, value] : edit.set_tags) {
      KILN_ASSIGN_OR_RETURN(
          Statement tag,
          db->Prepare("INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?) "
                      "ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value"));
      KILN_RETURN_IF_ERROR(tag.Bind(1, id).Bind(2, key).Bind(3, value).Run());
    }
    if (!edit.archived) return Status::Ok();
    if (*edit.archived && !IsTerminal(run_status)) {
      return FailedPreconditionError(fmt::format(
          "run {} is {}; only a run that has ended can be archived (kiln cancel ends it)", id,
          RunStatusName(run_status)));
    }
    // A sweep's trials go with it; an archived run keeps the time it was first archived.
    if (!*edit.archived) {
      KILN_ASSIGN_OR_RETURN(Statement restore, db->Prepare("UPDATE runs SET archived_at = NULL "
                                                           "WHERE id = ?1 OR parent_id = ?1"));
      return restore.Bind(1, id).Run();
    }
    KILN_ASSIGN_OR_RETURN(Statement archive,
                          db->Prepare("UPDATE runs SET archived_at = ?1 "
                                      "WHERE (id = ?2 OR parent_id = ?2) AND archived_at IS NULL"));
    return archive.Bind(1, now).Bind(2, id).Run();
  });
  KILN_RETURN_IF_ERROR(status);
  return ReadRun(*db, id);
}

}  // namespace kiln::store::sql
