#include "store/sqlite/sqlite_store.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "store/sqlite/schema.h"

namespace kiln::store::sqlite {

namespace {

constexpr std::string_view kRunColumns =
    "r.id, e.name, r.display_name, r.spec_json, r.snapshot_id, r.compute_target, r.run_dir, "
    "r.host, r.status, r.created_at, r.started_at, r.ended_at, r.exit_code, r.failure_reason, "
    "r.failure_log_tail";

Result<Run> RunFromRow(const Statement& row) {
  Run run;
  run.id = row.ColumnText(0);
  run.experiment = row.ColumnText(1);
  run.display_name = row.ColumnText(2);
  run.spec_json = row.ColumnText(3);
  run.snapshot_id = row.ColumnText(4);
  run.compute_target = row.ColumnText(5);
  run.run_dir = row.ColumnText(6);
  run.host = row.ColumnText(7);
  const std::optional<RunStatus> status = ParseRunStatus(row.ColumnText(8));
  if (!status) {
    return DataLossError(
        fmt::format("run {} has an unknown status '{}'", run.id, row.ColumnText(8)));
  }
  run.status = *status;
  run.created_at = row.ColumnInt(9);
  run.started_at = row.ColumnOptionalInt(10);
  run.ended_at = row.ColumnOptionalInt(11);
  if (auto code = row.ColumnOptionalInt(12)) run.exit_code = static_cast<int>(*code);
  run.failure_reason = row.ColumnText(13);
  try {
    run.failure_log_tail =
        nlohmann::json::parse(row.ColumnText(14)).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception&) {
    return DataLossError(fmt::format("run {} has an unreadable failure log tail", run.id));
  }
  return run;
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::filesystem::path& path,
                                                       const Clock& clock) {
  KILN_RETURN_IF_ERROR(CreateDirectories(path.parent_path()));
  KILN_ASSIGN_OR_RETURN(Database db, Database::Open(path, kBusyTimeoutMs));
  KILN_RETURN_IF_ERROR(Migrate(db));
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(db), clock));
}

Status SqliteStore::InWriteTransaction(const std::function<Status()>& body) {
  KILN_RETURN_IF_ERROR(db_.Execute("BEGIN IMMEDIATE"));
  Status status = body();
  if (!status.ok()) {
    db_.Execute("ROLLBACK").IgnoreError();
    return status;
  }
  status = db_.Execute("COMMIT");
  if (!status.ok()) db_.Execute("ROLLBACK").IgnoreError();
  return status;
}

Result<Run> SqliteStore::CreateRun(const Run& run) {
  std::lock_guard lock(mu_);
  const Timestamp now = clock_.Now();
  Status status = InWriteTransaction([&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement experiment,
                          db_.Prepare("INSERT INTO experiments (name, created_at) VALUES (?, ?) "
                                      "ON CONFLICT(name) DO NOTHING"));
    KILN_RETURN_IF_ERROR(experiment.Bind(1, run.experiment).Bind(2, now).Run());

    KILN_ASSIGN_OR_RETURN(
        Statement insert,
        db_.Prepare("INSERT INTO runs (id, experiment_id, display_name, spec_json, snapshot_id, "
                    "compute_target, run_dir, host, status, created_at) "
                    "SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, ? FROM experiments WHERE name = ?"));
    Status inserted = insert.Bind(1, run.id)
                          .Bind(2, run.display_name)
                          .Bind(3, run.spec_json)
                          .Bind(4, run.snapshot_id)
                          .Bind(5, run.compute_target)
                          .Bind(6, run.run_dir)
                          .Bind(7, run.host)
                          .Bind(8, RunStatusName(RunStatus::kQueued))
                          .Bind(9, now)
                          .Bind(10, run.experiment)
                          .Run();
    if (inserted.code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError(fmt::format("run {} exists already", run.id));
    }
    KILN_RETURN_IF_ERROR(inserted);

    KILN_ASSIGN_OR_RETURN(Statement history,
                          db_.Prepare("INSERT INTO run_status_history (run_id, seq, status, at, "
                                      "detail) VALUES (?, 1, ?, ?, '')"));
    KILN_RETURN_IF_ERROR(
        history.Bind(1, run.id).Bind(2, RunStatusName(RunStatus::kQueued)).Bind(3, now).Run());

    for (std::size_t i = 0; i < run.params.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(Statement param,
                            db_.Prepare("INSERT INTO run_params (run_id, position, name, value, "
                                        "resolved) VALUES (?, ?, ?, ?, ?)"));
      KILN_RETURN_IF_ERROR(param.Bind(1, run.id)
                               .Bind(2, static_cast<std::int64_t>(i))
                               .Bind(3, run.params[i].name)
                               .BindNullable(4, run.params[i].value)
                               .BindNullable(5, run.params[i].resolved)
                               .Run());
    }
    for (const auto& [key, value] : run.tags) {
      KILN_ASSIGN_OR_RETURN(
          Statement tag, db_.Prepare("INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)"));
      KILN_RETURN_IF_ERROR(tag.Bind(1, run.id).Bind(2, key).Bind(3, value).Run());
    }
    return Status::Ok();
  });
  KILN_RETURN_IF_ERROR(status);
  return ReadRunLocked(run.id);
}

Status SqliteStore::ReadRunDetailsLocked(Run& run) {
  KILN_ASSIGN_OR_RETURN(Statement params,
                        db_.Prepare("SELECT name, value, resolved FROM run_params WHERE run_id = ? "
                                    "ORDER BY position"));
  params.Bind(1, run.id);
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, params.Step());
    if (!row) break;
    run.params.push_back(
        {params.ColumnText(0), params.ColumnOptionalText(1), params.ColumnOptionalText(2)});
  }
  KILN_ASSIGN_OR_RETURN(Statement tags,
                        db_.Prepare("SELECT key, value FROM run_tags WHERE run_id = ?"));
  tags.Bind(1, run.id);
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, tags.Step());
    if (!row) break;
    run.tags[tags.ColumnText(0)] = tags.ColumnText(1);
  }
  return Status::Ok();
}

Result<Run> SqliteStore::ReadRunLocked(std::string_view id) {
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db_.Prepare(fmt::format("SELECT {} FROM runs r JOIN experiments e ON e.id = r.experiment_id "
                              "WHERE r.id = ?",
                              kRunColumns)));
  query.Bind(1, id);
  KILN_ASSIGN_OR_RETURN(const bool found, query.Step());
  if (!found) return NotFoundError(fmt::format("run '{}' does not exist", id));
  KILN_ASSIGN_OR_RETURN(Run run, RunFromRow(query));
  KILN_RETURN_IF_ERROR(ReadRunDetailsLocked(run));
  return run;
}

Result<Run> SqliteStore::GetRun(std::string_view id) {
  std::lock_guard lock(mu_);
  return ReadRunLocked(id);
}

Result<std::vector<Run>> SqliteStore::ListRuns(const RunFilter& filter) {
  std::lock_guard lock(mu_);
  std::string sql =
      fmt::format("SELECT {} FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE 1 = 1",
                  kRunColumns);
  if (filter.experiment) sql += " AND e.name = ?1";
  if (filter.status) sql += " AND r.status = ?2";
  if (filter.only_active) {
    sql +=
        fmt::format(" AND r.status NOT IN ('{}', '{}', '{}')", RunStatusName(RunStatus::kCompleted),
                    RunStatusName(RunStatus::kFailed), RunStatusName(RunStatus::kCanceled));
  }
  sql += " ORDER BY r.created_at DESC, r.id DESC";
  if (filter.limit > 0) sql += fmt::format(" LIMIT {}", filter.limit);
  KILN_ASSIGN_OR_RETURN(Statement query, db_.Prepare(sql));
  if (filter.experiment) query.Bind(1, *filter.experiment);
  if (filter.status) query.Bind(2, RunStatusName(*filter.status));
  std::vector<Run> runs;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    KILN_ASSIGN_OR_RETURN(Run run, RunFromRow(query));
    runs.push_back(std::move(run));
  }
  for (Run& run : runs) KILN_RETURN_IF_ERROR(ReadRunDetailsLocked(run));
  return runs;
}

Result<std::vector<StatusChange>> SqliteStore::GetStatusHistory(std::string_view run_id) {
  std::lock_guard lock(mu_);
  KILN_ASSIGN_OR_RETURN(Statement exists, db_.Prepare("SELECT 1 FROM runs WHERE id = ?"));
  exists.Bind(1, run_id);
  KILN_ASSIGN_OR_RETURN(const bool found, exists.Step());
  if (!found) return NotFoundError(fmt::format("run '{}' does not exist", run_id));
  KILN_ASSIGN_OR_RETURN(Statement query,
                        db_.Prepare("SELECT status, at, detail FROM run_status_history "
                                    "WHERE run_id = ? ORDER BY seq"));
  query.Bind(1, run_id);
  std::vector<StatusChange> history;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    const std::optional<RunStatus> status = ParseRunStatus(query.ColumnText(0));
    if (!status)
      return DataLossError(fmt::format("run {} has an unknown status in its history", run_id));
    history.push_back({*status, query.ColumnInt(1), query.ColumnText(2)});
  }
  return history;
}

Result<Run> SqliteStore::TransitionRun(std::string_view id, const Transition& transition) {
  std::lock_guard lock(mu_);
  const Timestamp now = clock_.Now();
  Status status = InWriteTransaction([&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement current, db_.Prepare("SELECT status FROM runs WHERE id = ?"));
    current.Bind(1, id);
    KILN_ASSIGN_OR_RETURN(const bool found, current.Step());
    if (!found) return NotFoundError(fmt::format("run '{}' does not exist", id));
    const std::optional<RunStatus> from = ParseRunStatus(current.ColumnText(0));
    if (!from) return DataLossError(fmt::format("run {} has an unknown status", id));
    if (!IsAllowedTransition(*from, transition.to)) {
      return FailedPreconditionError(fmt::format("run {} is {}; it cannot become {}", id,
                                                 RunStatusName(*from),
                                                 RunStatusName(transition.to)));
    }
    std::string sql = "UPDATE runs SET status = ?1";
    if (transition.to == RunStatus::kRunning) sql += ", started_at = ?2";
    if (IsTerminal(transition.to)) sql += ", ended_at = ?2";
    if (transition.exit_code) sql += ", exit_code = ?3";
    if (!transition.failure_reason.empty()) sql += ", failure_reason = ?4";
    if (!transition.failure_log_tail.empty()) sql += ", failure_log_tail = ?5";
    sql += " WHERE id = ?6";
    KILN_ASSIGN_OR_RETURN(Statement update, db_.Prepare(sql));
    update.Bind(1, RunStatusName(transition.to)).Bind(2, now).Bind(6, id);
    if (transition.exit_code) update.Bind(3, static_cast<std::int64_t>(*transition.exit_code));
    if (!transition.failure_reason.empty()) update.Bind(4, transition.failure_reason);
    if (!transition.failure_log_tail.empty()) {
      update.Bind(5, nlohmann::json(transition.failure_log_tail).dump());
    }
    KILN_RETURN_IF_ERROR(update.Run());

    KILN_ASSIGN_OR_RETURN(
        Statement history,
        db_.Prepare("INSERT INTO run_status_history (run_id, seq, status, at, detail) "
                    "SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4 FROM run_status_history "
                    "WHERE run_id = ?1"));
    return history.Bind(1, id)
        .Bind(2, RunStatusName(transition.to))
        .Bind(3, now)
        .Bind(4, transition.detail)
        .Run();
  });
  KILN_RETURN_IF_ERROR(status);
  return ReadRunLocked(id);
}

Result<std::vector<Experiment>> SqliteStore::ListExperiments() {
  std::lock_guard lock(mu_);
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db_.Prepare("SELECT e.name, e.created_at, COUNT(r.id) FROM experiments e "
                  "LEFT JOIN runs r ON r.experiment_id = e.id GROUP BY e.id ORDER BY e.name"));
  std::vector<Experiment> experiments;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    experiments.push_back(
        {query.ColumnText(0), query.ColumnInt(1), static_cast<int>(query.ColumnInt(2))});
  }
  return experiments;
}

Status SqliteStore::RegisterDatastore(const Datastore& datastore) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement insert,
                          db_.Prepare("INSERT INTO datastores (name, type, path, created_at) "
                                      "VALUES (?, ?, ?, ?)"));
    Status inserted = insert.Bind(1, datastore.name)
                          .Bind(2, datastore.type)
                          .Bind(3, datastore.path)
                          .Bind(4, clock_.Now())
                          .Run();
    if (inserted.code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError(
          fmt::format("datastore '{}' is registered already", datastore.name));
    }
    return inserted;
  });
}

Result<Datastore> SqliteStore::GetDatastore(std::string_view name) {
  std::lock_guard lock(mu_);
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db_.Prepare("SELECT name, type, path, created_at FROM datastores WHERE name = ?"));
  query.Bind(1, name);
  KILN_ASSIGN_OR_RETURN(const bool found, query.Step());
  if (!found) return NotFoundError(fmt::format("datastore '{}' is not registered", name));
  return Datastore{query.ColumnText(0), query.ColumnText(1), query.ColumnText(2),
                   query.ColumnInt(3)};
}

Result<std::vector<Datastore>> SqliteStore::ListDatastores() {
  std::lock_guard lock(mu_);
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db_.Prepare("SELECT name, type, path, created_at FROM datastores ORDER BY name"));
  std::vector<Datastore> datastores;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    datastores.push_back(
        {query.ColumnText(0), query.ColumnText(1), query.ColumnText(2), query.ColumnInt(3)});
  }
  return datastores;
}

Status SqliteStore::RemoveDatastore(std::string_view name) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement remove, db_.Prepare("DELETE FROM datastores WHERE name = ?"));
    KILN_RETURN_IF_ERROR(remove.Bind(1, name).Run());
    if (sqlite3_changes(db_.get()) == 0) {
      return NotFoundError(fmt::format("datastore '{}' is not registered", name));
    }
    return Status::Ok();
  });
}

}  // namespace kiln::store::sqlite
