#pragma once

// SqlStore: the Store over an SQL database (store/sql/statement.h), one implementation for
// every relational backend: the embedded SQLite file (sqlite/sqlite_store.h) and PostgreSQL
// (postgres/postgres_store.h). The backends differ only in their driver and their schema
// migrations; the queries are the same.
//
// Every write runs in one transaction begun by Connection::BeginWrite(), so concurrent
// writers in other processes cannot interleave a read and a write of it; a transaction that
// lost to a concurrent one (Connection::IsConflict) is run again. Within a process, each
// call leases a connection from the store's pool (connection_pool.h) for its duration.

#include <chrono>
#include <functional>
#include <memory>
#include <span>

#include "common/time.h"
#include "store/sql/connection_pool.h"
#include "store/sql/statement.h"
#include "store/store.h"

namespace kiln::store::sql {

class SqlStore : public Store {
 public:
  // `db` has its schema up to date. With `open`, calls run on up to `pool_size`
  // connections at once, each waiting at most `pool_wait` for one; without, every call
  // runs in turn on `db`.
  SqlStore(std::unique_ptr<Connection> db, const Clock& clock,
           ConnectionPool::Opener open = nullptr, std::size_t pool_size = 1,
           std::chrono::milliseconds pool_wait = std::chrono::hours(1))
      : pool_(std::move(db), std::move(open), pool_size, pool_wait), clock_(clock) {}

  Result<Run> CreateRun(const Run& run) override;
  Result<Run> GetRun(std::string_view id) override;
  Result<std::vector<Run>> ListRuns(const RunFilter& filter) override;
  Result<std::vector<StatusChange>> GetStatusHistory(std::string_view run_id) override;
  Result<Run> TransitionRun(std::string_view id, const Transition& transition) override;
  Result<Run> EditRun(std::string_view id, const RunEdit& edit) override;
  Result<std::vector<Run>> DeleteRun(std::string_view id) override;
  Result<StoreReferences> ListReferences() override;
  Result<std::string> Compact() override;
  Result<EnvironmentVersion> RegisterEnvironment(std::string_view name,
                                                 std::string_view definition_json) override;
  Result<EnvironmentVersion> GetEnvironment(std::string_view name, std::int64_t version) override;
  Result<std::vector<EnvironmentVersion>> ListEnvironments(std::string_view name) override;
  Status AppendMetrics(std::string_view run_id, const MetricBatch& batch) override;
  Result<std::uint64_t> GetSpoolOffset(std::string_view run_id, int rank) override;
  Result<std::vector<MetricSummary>> ListMetrics(std::string_view run_id) override;
  Result<MetricSeries> ReadMetric(std::string_view run_id, std::string_view name,
                                  int rank) override;
  Result<std::vector<Experiment>> ListExperiments() override;
  Status RegisterDatastore(const Datastore& datastore) override;
  Result<Datastore> GetDatastore(std::string_view name) override;
  Result<std::vector<Datastore>> ListDatastores() override;
  Status RemoveDatastore(std::string_view name) override;

  Status AddComputeTarget(const ComputeTargetRecord& target) override;
  Result<ComputeTargetRecord> GetComputeTarget(std::string_view name) override;
  Result<std::vector<ComputeTargetRecord>> ListComputeTargets() override;
  Status RemoveComputeTarget(std::string_view name) override;

  Result<ModelVersion> CreateModelVersion(const ModelVersion& model) override;
  Result<ModelVersion> GetModelVersion(std::string_view name, std::int64_t version) override;
  Result<std::vector<ModelVersion>> ListModelVersions(std::string_view name) override;
  Status RemoveModelVersion(std::string_view name, std::int64_t version) override;
  Result<ModelVersion> SetModelDeployment(std::string_view name, std::int64_t version,
                                          const ModelDeployment& deployment) override;
  Result<ModelVersion> RemoveModelDeployment(std::string_view name, std::int64_t version) override;

  Result<Run> CreateTrial(const Run& run, const Trial& trial) override;
  Result<std::vector<Trial>> ListTrials(std::string_view sweep_id) override;
  Status RecordJudgement(std::string_view run_id, const TrialJudgement& judgement) override;
  Result<Run> ReopenSweep(std::string_view id, std::string_view detail) override;

  Status CreateApiToken(const ApiToken& token) override;
  Result<ApiToken> GetApiToken(std::string_view id) override;
  Result<std::vector<ApiToken>> ListApiTokens(bool include_run_tokens) override;
  Status RevokeApiToken(std::string_view id) override;

 private:
  // Runs `body` in a write transaction, committing when it succeeds and rolling back when
  // it fails; runs it again when it lost to a concurrent transaction.
  Status InWriteTransaction(Connection& db, const std::function<Status()>& body);

  // The run's rows (experiment on first use, run, first history entry, params, tags),
  // inside the caller's write transaction.
  Status InsertRun(Connection& db, const Run& run);
  Result<Run> ReadRun(Connection& db, std::string_view id);
  // The run's status, read in the caller's transaction; NotFound for an unknown run.
  Result<RunStatus> CurrentStatus(Connection& db, std::string_view id);
  Status AppendSeries(Connection& db, std::string_view run_id, int rank,
                      const MetricSeries& series);
  Status ReadRunDetails(Connection& db, std::span<Run> runs);

  ConnectionPool pool_;
  const Clock& clock_;
};

}  // namespace kiln::store::sql
