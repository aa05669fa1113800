#include "store/sql/sql_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <variant>

#include "store/run_query.h"
#include "store/sql/run_query_sql.h"

namespace kiln::store::sql {

namespace {

constexpr std::string_view kRunColumns =
    "r.id, e.name, r.display_name, r.spec_json, r.snapshot_id, r.compute_target, r.run_dir, "
    "r.host, r.status, r.created_at, r.started_at, r.ended_at, r.exit_code, r.failure_reason, "
    "r.failure_log_tail, r.submitted_by, r.kind, r.parent_id, r.description, r.archived_at";

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
  run.submitted_by = row.ColumnText(15);
  const std::optional<RunKind> kind = ParseRunKind(row.ColumnText(16));
  if (!kind) {
    return DataLossError(
        fmt::format("run {} has an unknown kind '{}'", run.id, row.ColumnText(16)));
  }
  run.kind = *kind;
  run.parent_id = row.ColumnOptionalText(17).value_or("");
  run.description = row.ColumnText(18);
  run.archived_at = row.ColumnOptionalInt(19);
  return run;
}

}  // namespace

Status SqlStore::InWriteTransaction(Connection& db, const std::function<Status()>& body) {
  // Conflicts are rare (two writers of one run at the same instant); a few retries settle
  // them, and a conflict that persists is reported as the store being busy.
  constexpr int kAttempts = 10;
  Status status;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    KILN_RETURN_IF_ERROR(db.BeginWrite());
    status = body();
    if (status.ok()) status = db.Execute("COMMIT");
    if (status.ok()) return status;
    db.Execute("ROLLBACK").IgnoreError();
    if (!db.IsConflict(status)) return status;
  }
  return UnavailableError(fmt::format(
      "{} (the store stayed busy with concurrent writers; try again)", status.message()));
}

Result<Run> SqlStore::CreateRun(const Run& run) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_RETURN_IF_ERROR(InWriteTransaction(*db, [&] { return InsertRun(*db, run); }));
  return ReadRun(*db, run.id);
}

Status SqlStore::InsertRun(Connection& db, const Run& run) {
  const Timestamp now = clock_.Now();
  {
    KILN_ASSIGN_OR_RETURN(Statement experiment,
                          db.Prepare("INSERT INTO experiments (name, created_at) VALUES (?, ?) "
                                     "ON CONFLICT(name) DO NOTHING"));
    KILN_RETURN_IF_ERROR(experiment.Bind(1, run.experiment).Bind(2, now).Run());

    KILN_ASSIGN_OR_RETURN(
        Statement insert,
        db.Prepare(
            "INSERT INTO runs (id, experiment_id, display_name, spec_json, snapshot_id, "
            "compute_target, run_dir, host, status, created_at, submitted_by, kind, "
            "parent_id) "
            "SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM experiments WHERE name = ?"));
    Status inserted =
        insert.Bind(1, run.id)
            .Bind(2, run.display_name)
            .Bind(3, run.spec_json)
            .Bind(4, run.snapshot_id)
            .Bind(5, run.compute_target)
            .Bind(6, run.run_dir)
            .Bind(7, run.host)
            .Bind(8, RunStatusName(RunStatus::kQueued))
            .Bind(9, now)
            .Bind(10, run.submitted_by)
            .Bind(11, RunKindName(run.kind))
            .BindNullable(12, run.parent_id.empty() ? std::nullopt : std::optional(run.parent_id))
            .Bind(13, run.experiment)
            .Run();
    if (inserted.code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError(fmt::format("run {} exists already", run.id));
    }
    KILN_RETURN_IF_ERROR(inserted);

    KILN_ASSIGN_OR_RETURN(Statement history,
                          db.Prepare("INSERT INTO run_status_history (run_id, seq, status, at, "
                                     "detail) VALUES (?, 1, ?, ?, '')"));
    KILN_RETURN_IF_ERROR(
        history.Bind(1, run.id).Bind(2, RunStatusName(RunStatus::kQueued)).Bind(3, now).Run());

    for (std::size_t i = 0; i < run.params.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(Statement param,
                            db.Prepare("INSERT INTO run_params (run_id, position, name, value, "
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
          Statement tag, db.Prepare("INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)"));
      KILN_RETURN_IF_ERROR(tag.Bind(1, run.id).Bind(2, key).Bind(3, value).Run());
    }
  }
  return Status::Ok();
}

Status SqlStore::ReadRunDetails(Connection& db, std::span<Run> runs) {
  // A few statements for a whole page of runs, not two per run: a listing of thousands
  // costs a handful of round trips to PostgreSQL.
  constexpr std::size_t kChunk = 500;
  std::map<std::string, Run*> by_id;
  for (Run& run : runs) by_id[run.id] = &run;
  for (std::size_t start = 0; start < runs.size(); start += kChunk) {
    const std::size_t count = std::min(kChunk, runs.size() - start);
    std::string ids;
    for (std::size_t i = 0; i < count; ++i) ids += i == 0 ? "?" : ", ?";
    KILN_ASSIGN_OR_RETURN(
        Statement params,
        db.Prepare(fmt::format("SELECT run_id, name, value, resolved FROM run_params "
                               "WHERE run_id IN ({}) ORDER BY run_id, position",
                               ids)));
    KILN_ASSIGN_OR_RETURN(
        Statement tags, db.Prepare(fmt::format(
                            "SELECT run_id, key, value FROM run_tags WHERE run_id IN ({})", ids)));
    for (std::size_t i = 0; i < count; ++i) {
      params.Bind(static_cast<int>(i) + 1, runs[start + i].id);
      tags.Bind(static_cast<int>(i) + 1, runs[start + i].id);
    }
    while (true) {
      KILN_ASSIGN_OR_RETURN(const bool row, params.Step());
      if (!row) break;
      by_id.at(params.ColumnText(0))
          ->params.push_back(
              {params.ColumnText(1), params.ColumnOptionalText(2), params.ColumnOptionalText(3)});
    }
    while (true) {
      KILN_ASSIGN_OR_RETURN(const bool row, tags.Step());
      if (!row) break;
      by_id.at(tags.ColumnText(0))->tags[tags.ColumnText(1)] = tags.ColumnText(2);
    }
  }
  return Status::Ok();
}

Result<Run> SqlStore::ReadRun(Connection& db, std::string_view id) {
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db.Prepare(fmt::format("SELECT {} FROM runs r JOIN experiments e ON e.id = r.experiment_id "
                             "WHERE r.id = ?",
                             kRunColumns)));
  query.Bind(1, id);
  KILN_ASSIGN_OR_RETURN(const bool found, query.Step());
  if (!found) return NotFoundError(fmt::format("run '{}' does not exist", id));
  KILN_ASSIGN_OR_RETURN(Run run, RunFromRow(query));
  KILN_RETURN_IF_ERROR(ReadRunDetails(db, std::span<Run>(&run, 1)));
  return run;
}

Result<Run> SqlStore::GetRun(std::string_view id) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return ReadRun(*db, id);
}

Result<std::vector<Run>> SqlStore::ListRuns(const RunFilter& filter) {
  std::optional<SqlCondition> where;
  if (!filter.where.empty()) {
    Result<RunQuery> query = ParseRunQuery(filter.where);
    if (!query.ok()) return query.status().WithPrefix("where");
    where = RunQuerySql(*query);
  }
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  std::string sql =
      fmt::format("SELECT {} FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE 1 = 1",
                  kRunColumns);
  // Values in the order of their "?"s: a driver may need the type of every one.
  std::vector<std::variant<std::string, double, std::int64_t>> values;
  if (filter.experiment) {
    sql += " AND e.name = ?";
    values.emplace_back(*filter.experiment);
  }
  if (filter.status) {
    sql += " AND r.status = ?";
    values.emplace_back(std::string(RunStatusName(*filter.status)));
  }
  if (filter.parent_id) {
    sql += " AND r.parent_id = ?";
    values.emplace_back(*filter.parent_id);
  }
  if (filter.top_level) sql += " AND r.parent_id IS NULL";
  if (filter.after) {
    sql += " AND (r.created_at < ? OR (r.created_at = ? AND r.id < ?))";
    values.emplace_back(filter.after->created_at);
    values.emplace_back(filter.after->created_at);
    values.emplace_back(filter.after->id);
  }
  if (filter.archived == ArchivedRuns::kHidden) sql += " AND r.archived_at IS NULL";
  if (filter.archived == ArchivedRuns::kOnly) sql += " AND r.archived_at IS NOT NULL";
  if (filter.only_active) {
    sql +=
        fmt::format(" AND r.status NOT IN ('{}', '{}', '{}')", RunStatusName(RunStatus::kCompleted),
                    RunStatusName(RunStatus::kFailed), RunStatusName(RunStatus::kCanceled));
  }
  if (where) {
    sql += " AND " + where->sql;
    for (const auto& value : where->values) {
      std::visit([&](const auto& v) { values.emplace_back(v); }, value);
    }
  }
  sql += " ORDER BY r.created_at DESC, r.id DESC";
  if (filter.limit > 0) sql += fmt::format(" LIMIT {}", filter.limit);
  KILN_ASSIGN_OR_RETURN(Statement query, db->Prepare(sql));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    std::visit(
        [&](const auto& value) {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, double>) {
            query.BindNullable(index, std::optional<double>(value));
          } else {
            query.Bind(index, value);
          }
        },
        values[i]);
  }
  std::vector<Run> runs;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    KILN_ASSIGN_OR_RETURN(Run run, RunFromRow(query));
    runs.push_back(std::move(run));
  }
  KILN_RETURN_IF_ERROR(ReadRunDetails(*db, runs));
  return runs;
}

Result<std::vector<StatusChange>> SqlStore::GetStatusHistory(std::string_view run_id) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(Statement exists, db->Prepare("SELECT 1 FROM runs WHERE id = ?"));
  exists.Bind(1, run_id);
  KILN_ASSIGN_OR_RETURN(const bool found, exists.Step());
  if (!found) return NotFoundError(fmt::format("run '{}' does not exist", run_id));
  KILN_ASSIGN_OR_RETURN(Statement query,
                        db->Prepare("SELECT status, at, detail FROM run_status_history "
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

Result<RunStatus> SqlStore::CurrentStatus(Connection& db, std::string_view id) {
  KILN_ASSIGN_OR_RETURN(Statement current, db.Prepare("SELECT status FROM runs WHERE id = ?"));
  current.Bind(1, id);
  KILN_ASSIGN_OR_RETURN(const bool found, current.Step());
  if (!found) return NotFoundError(fmt::format("run '{}' does not exist", id));
  const std::optional<RunStatus> status = ParseRunStatus(current.ColumnText(0));
  if (!status) return DataLossError(fmt::format("run {} has an unknown status", id));
  return *status;
}

Result<Run> SqlStore::TransitionRun(std::string_view id, const Transition& transition) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  const Timestamp now = clock_.Now();
  Status status = InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(const RunStatus from, CurrentStatus(*db, id));
    if (!IsAllowedTransition(from, transition.to)) {
      return FailedPreconditionError(fmt::format("run {} is {}; it cannot become {}", id,
                                                 RunStatusName(from),
                                                 RunStatusName(transition.to)));
    }
    // Parameters are numbered densely: a driver may need the type of every one.
    std::string sql = "UPDATE runs SET status = ?1";
    int parameter = 1;
    const char* stamp = transition.to == RunStatus::kRunning ? "started_at"
                        : IsTerminal(transition.to)          ? "ended_at"
                                                             : nullptr;
    const int at = stamp != nullptr ? ++parameter : 0;
    if (at) sql += fmt::format(", {} = ?{}", stamp, at);
    const int exit_code = transition.exit_code ? ++parameter : 0;
    const int reason = transition.failure_reason.empty() ? 0 : ++parameter;
    const int tail = transition.failure_log_tail.empty() ? 0 : ++parameter;
    const int where = ++parameter;
    if (exit_code) sql += fmt::format(", exit_code = ?{}", exit_code);
    if (reason) sql += fmt::format(", failure_reason = ?{}", reason);
    if (tail) sql += fmt::format(", failure_log_tail = ?{}", tail);
    sql += fmt::format(" WHERE id = ?{}", where);
    KILN_ASSIGN_OR_RETURN(Statement update, db->Prepare(sql));
    update.Bind(1, RunStatusName(transition.to)).Bind(where, id);
    if (at) update.Bind(at, now);
    if (exit_code) update.Bind(exit_code, static_cast<std::int64_t>(*transition.exit_code));
    if (reason) update.Bind(reason, transition.failure_reason);
    if (tail) update.Bind(tail, nlohmann::json(transition.failure_log_tail).dump());
    KILN_RETURN_IF_ERROR(update.Run());

    KILN_ASSIGN_OR_RETURN(
        Statement history,
        db->Prepare("INSERT INTO run_status_history (run_id, seq, status, at, detail) "
                    "SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4 FROM run_status_history "
                    "WHERE run_id = ?1"));
    KILN_RETURN_IF_ERROR(history.Bind(1, id)
                             .Bind(2, RunStatusName(transition.to))
                             .Bind(3, now)
                             .Bind(4, transition.detail)
                             .Run());
    if (!IsTerminal(transition.to)) return Status::Ok();
    // The run's launcher tokens end with it, whoever ends it.
    KILN_ASSIGN_OR_RETURN(Statement revoke,
                          db->Prepare("UPDATE api_tokens SET revoked_at = ?1 "
                                      "WHERE run_id = ?2 AND revoked_at IS NULL"));
    return revoke.Bind(1, now).Bind(2, id).Run();
  });
  KILN_RETURN_IF_ERROR(status);
  return ReadRun(*db, id);
}

Result<std::vector<Experiment>> SqlStore::ListExperiments() {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare("SELECT e.name, e.created_at, COUNT(r.id) FROM experiments e "
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

Status SqlStore::RegisterDatastore(const Datastore& datastore) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement insert,
                          db->Prepare("INSERT INTO datastores (name, type, path, created_at) "
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

Result<Datastore> SqlStore::GetDatastore(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare("SELECT name, type, path, created_at FROM datastores WHERE name = ?"));
  query.Bind(1, name);
  KILN_ASSIGN_OR_RETURN(const bool found, query.Step());
  if (!found) return NotFoundError(fmt::format("datastore '{}' is not registered", name));
  return Datastore{query.ColumnText(0), query.ColumnText(1), query.ColumnText(2),
                   query.ColumnInt(3)};
}

Result<std::vector<Datastore>> SqlStore::ListDatastores() {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare("SELECT name, type, path, created_at FROM datastores ORDER BY name"));
  std::vector<Datastore> datastores;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    datastores.push_back(
        {query.ColumnText(0), query.ColumnText(1), query.ColumnText(2), query.ColumnInt(3)});
  }
  return datastores;
}

Status SqlStore::RemoveDatastore(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement remove, db->Prepare("DELETE FROM datastores WHERE name = ?"));
    KILN_RETURN_IF_ERROR(remove.Bind(1, name).Run());
    if (db->Changes() == 0) {
      return NotFoundError(fmt::format("datastore '{}' is not registered", name));
    }
    return Status::Ok();
  });
}

}  // namespace kiln::store::sql
