// SqlStore's sweep methods: trials and the judgements of their sweep's policy.

#include <fmt/format.h>

#include "store/sql/sql_store.h"

namespace kiln::store::sql {

Result<Run> SqlStore::CreateTrial(const Run& run, const Trial& trial) {
  KILN_CHECK(run.parent_id == trial.sweep_id);
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  Status status = InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement sweep,
                          db->Prepare("SELECT kind, status FROM runs WHERE id = ?"));
    sweep.Bind(1, trial.sweep_id);
    KILN_ASSIGN_OR_RETURN(const bool found, sweep.Step());
    if (!found) return NotFoundError(fmt::format("sweep '{}' does not exist", trial.sweep_id));
    if (sweep.ColumnText(0) != RunKindName(RunKind::kSweep)) {
      return FailedPreconditionError(
          fmt::format("run '{}' is a {}, not a sweep", trial.sweep_id, sweep.ColumnText(0)));
    }
    // Only a sweep on its way (not canceling, not ending) makes trials.
    const std::optional<RunStatus> sweep_status = ParseRunStatus(sweep.ColumnText(1));
    if (sweep_status != RunStatus::kQueued && sweep_status != RunStatus::kPreparing &&
        sweep_status != RunStatus::kRunning) {
      return FailedPreconditionError(fmt::format("sweep '{}' is {}; it takes no more trials",
                                                 trial.sweep_id, sweep.ColumnText(1)));
    }
    KILN_ASSIGN_OR_RETURN(Statement taken, db->Prepare("SELECT run_id FROM sweep_trials WHERE "
                                                       "sweep_id = ? AND trial_index = ?"));
    taken.Bind(1, trial.sweep_id).Bind(2, trial.index);
    KILN_ASSIGN_OR_RETURN(const bool exists, taken.Step());
    if (exists) {
      return AlreadyExistsError(fmt::format("sweep '{}' has a trial {} already: run {}",
                                            trial.sweep_id, trial.index, taken.ColumnText(0)));
    }
    KILN_RETURN_IF_ERROR(InsertRun(*db, run));
    KILN_ASSIGN_OR_RETURN(Statement insert,
                          db->Prepare("INSERT INTO sweep_trials (sweep_id, trial_index, run_id, "
                                      "params_json) VALUES (?, ?, ?, ?)"));
    return insert.Bind(1, trial.sweep_id)
        .Bind(2, trial.index)
        .Bind(3, run.id)
        .Bind(4, trial.params_json)
        .Run();
  });
  KILN_RETURN_IF_ERROR(status);
  return ReadRun(*db, run.id);
}

Result<std::vector<Trial>> SqlStore::ListTrials(std::string_view sweep_id) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(Statement exists, db->Prepare("SELECT 1 FROM runs WHERE id = ?"));
  exists.Bind(1, sweep_id);
  KILN_ASSIGN_OR_RETURN(const bool found, exists.Step());
  if (!found) return NotFoundError(fmt::format("sweep '{}' does not exist", sweep_id));
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare("SELECT t.trial_index, t.run_id, t.params_json, t.judged_through, t.intervals, "
                  "t.best_value, t.stop_reason, r.status, r.created_at, r.started_at, r.ended_at "
                  "FROM sweep_trials t JOIN runs r ON r.id = t.run_id WHERE t.sweep_id = ? "
                  "ORDER BY t.trial_index"));
  query.Bind(1, sweep_id);
  std::vector<Trial> trials;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    Trial trial;
    trial.sweep_id = std::string(sweep_id);
    trial.index = query.ColumnInt(0);
    trial.run_id = query.ColumnText(1);
    trial.params_json = query.ColumnText(2);
    trial.judged_through = query.ColumnInt(3);
    trial.intervals = query.ColumnInt(4);
    trial.best = query.ColumnOptionalDouble(5);
    trial.stop_reason = query.ColumnText(6);
    const std::optional<RunStatus> status = ParseRunStatus(query.ColumnText(7));
    if (!status) {
      return DataLossError(
          fmt::format("run {} has an unknown status '{}'", trial.run_id, query.ColumnText(7)));
    }
    trial.status = *status;
    trial.created_at = query.ColumnInt(8);
    trial.started_at = query.ColumnOptionalInt(9);
    trial.ended_at = query.ColumnOptionalInt(10);
    trials.push_back(std::move(trial));
  }
  return trials;
}

Status SqlStore::RecordJudgement(std::string_view run_id, const TrialJudgement& judgement) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement current,
                          db->Prepare("SELECT judged_through FROM sweep_trials WHERE run_id = ?"));
    current.Bind(1, run_id);
    KILN_ASSIGN_OR_RETURN(const bool found, current.Step());
    if (!found) return NotFoundError(fmt::format("run '{}' is no sweep's trial", run_id));
    const std::int64_t judged_through = current.ColumnInt(0);
    if (judged_through != judgement.judged_before) {
      return FailedPreconditionError(
          fmt::format("trial {} is judged through interval {} already, not {}", run_id,
                      judged_through, judgement.judged_before));
    }
    KILN_ASSIGN_OR_RETURN(
        Statement update,
        db->Prepare("UPDATE sweep_trials SET judged_through = ?, intervals = ?, best_value = ?, "
                    "stop_reason = ? WHERE run_id = ?"));
    return update.Bind(1, judgement.judged_through)
        .Bind(2, judgement.intervals)
        .BindNullable(3, judgement.best)
        .Bind(4, judgement.stop_reason)
        .Bind(5, run_id)
        .Run();
  });
}

Result<Run> SqlStore::ReopenSweep(std::string_view id, std::string_view detail) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  const Timestamp now = clock_.Now();
  Status status = InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement current,
                          db->Prepare("SELECT kind, status FROM runs WHERE id = ?"));
    current.Bind(1, id);
    KILN_ASSIGN_OR_RETURN(const bool found, current.Step());
    if (!found) return NotFoundError(fmt::format("run '{}' does not exist", id));
    if (current.ColumnText(0) != RunKindName(RunKind::kSweep)) {
      return FailedPreconditionError(fmt::format("run '{}' is not a sweep", id));
    }
    const std::string was = current.ColumnText(1);
    if (was != RunStatusName(RunStatus::kCanceled) && was != RunStatusName(RunStatus::kFailed)) {
      return FailedPreconditionError(fmt::format(
          "sweep '{}' is {}; only a Canceled or Failed sweep can be reopened", id, was));
    }
    KILN_ASSIGN_OR_RETURN(Statement update,
                          db->Prepare("UPDATE runs SET status = ?, ended_at = NULL, exit_code = "
                                      "NULL, failure_reason = '', failure_log_tail = '[]' "
                                      "WHERE id = ?"));
    KILN_RETURN_IF_ERROR(update.Bind(1, RunStatusName(RunStatus::kQueued)).Bind(2, id).Run());
    KILN_ASSIGN_OR_RETURN(
        Statement history,
        db->Prepare("INSERT INTO run_status_history (run_id, seq, status, at, detail) "
                    "SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ? FROM run_status_history "
                    "WHERE run_id = ?"));
    return history.Bind(1, id)
        .Bind(2, RunStatusName(RunStatus::kQueued))
        .Bind(3, now)
        .Bind(4, detail)
        .Bind(5, id)
        .Run();
  });
  KILN_RETURN_IF_ERROR(status);
  return ReadRun(*db, id);
}

}  // namespace kiln::store::sql
