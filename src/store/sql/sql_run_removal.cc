// SqlStore's removal of runs, and what `kiln gc` asks of the store: the references to keep
// and a compacted journal.

#include <fmt/format.h>

#include "store/sql/sql_store.h"

namespace kiln::store::sql {

Result<std::vector<Run>> SqlStore::DeleteRun(std::string_view id) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  std::vector<Run> removed;
  Status status = InWriteTransaction(*db, [&]() -> Status {
    removed.clear();
    KILN_ASSIGN_OR_RETURN(Run run, ReadRun(*db, id));
    // A sweep numbers its trials without gaps, and would fail on one missing.
    if (!run.parent_id.empty()) {
      return FailedPreconditionError(fmt::format(
          "run {} is a trial of sweep {}; a trial goes with its sweep (delete the sweep, or "
          "archive the trial)",
          id, run.parent_id));
    }
    // A sweep goes with its trials, listed first: they end before it.
    KILN_ASSIGN_OR_RETURN(Statement trials,
                          db->Prepare("SELECT id FROM runs WHERE parent_id = ? ORDER BY id"));
    trials.Bind(1, id);
    std::vector<std::string> trial_ids;
    while (true) {
      KILN_ASSIGN_OR_RETURN(const bool row, trials.Step());
      if (!row) break;
      trial_ids.push_back(trials.ColumnText(0));
    }
    for (const std::string& trial_id : trial_ids) {
      KILN_ASSIGN_OR_RETURN(Run trial, ReadRun(*db, trial_id));
      removed.push_back(std::move(trial));
    }
    removed.push_back(std::move(run));
    for (const Run& one : removed) {
      if (!IsTerminal(one.status)) {
        return FailedPreconditionError(fmt::format(
            "run {} is {}; only runs that have ended are deleted (kiln cancel ends it){}", one.id,
            RunStatusName(one.status),
            one.id == id ? "" : fmt::format(", and sweep {} with it", id)));
      }
    }
    for (const Run& one : removed) {
      // Its params, tags, history, metrics, spool offsets and trial row go with it
      // (ON DELETE CASCADE); its launcher tokens, revoked when it ended, too.
      KILN_ASSIGN_OR_RETURN(Statement tokens,
                            db->Prepare("DELETE FROM api_tokens WHERE run_id = ?"));
      KILN_RETURN_IF_ERROR(tokens.Bind(1, one.id).Run());
      KILN_ASSIGN_OR_RETURN(Statement remove, db->Prepare("DELETE FROM runs WHERE id = ?"));
      KILN_RETURN_IF_ERROR(remove.Bind(1, one.id).Run());
    }
    return Status::Ok();
  });
  KILN_RETURN_IF_ERROR(status);
  return removed;
}

Result<StoreReferences> SqlStore::ListReferences() {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  StoreReferences references;
  KILN_ASSIGN_OR_RETURN(Statement runs, db->Prepare("SELECT id, snapshot_id, spec_json FROM runs"));
  constexpr std::string_view kHashKey = "\"environment_hash\":\"";
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, runs.Step());
    if (!row) break;
    references.run_ids.insert(runs.ColumnText(0));
    references.snapshot_ids.insert(runs.ColumnText(1));
    // The spec's JSON as the store keeps it (compact); no parse of every spec for one field.
    const std::string spec = runs.ColumnText(2);
    if (const std::size_t at = spec.find(kHashKey); at != std::string::npos) {
      const std::size_t start = at + kHashKey.size();
      const std::size_t end = spec.find('"', start);
      if (end != std::string::npos && end > start) {
        references.environment_hashes.insert(spec.substr(start, end - start));
      }
    }
  }
  // The lineage of model versions, and the folders deployed scoring scripts are served from.
  KILN_ASSIGN_OR_RETURN(Statement models,
                        db->Prepare("SELECT snapshot_id FROM model_versions UNION "
                                    "SELECT snapshot_id FROM model_deployments"));
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, models.Step());
    if (!row) break;
    references.snapshot_ids.insert(models.ColumnText(0));
  }
  return references;
}

Result<std::string> SqlStore::Compact() {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return db->Compact();
}

}  // namespace kiln::store::sql
