#pragma once

// SqliteStore: the embedded Store, one SQLite file (by default $KILN_HOME/kiln.db).
//
// Many processes may open the same file: SQLite's WAL journal lets readers run during a
// write, and every write runs in a BEGIN IMMEDIATE transaction so writers queue on the
// busy timeout instead of failing mid-transaction. Within a process, one connection per
// store, guarded by a mutex.

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>

#include "common/time.h"
#include "store/sqlite/database.h"
#include "store/store.h"

namespace kiln::store::sqlite {

class SqliteStore : public Store {
 public:
  static constexpr int kBusyTimeoutMs = 30'000;

  // Opens or creates the file and brings its schema up to date.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::filesystem::path& path,
                                                   const Clock& clock = SystemClock());

  Result<Run> CreateRun(const Run& run) override;
  Result<Run> GetRun(std::string_view id) override;
  Result<std::vector<Run>> ListRuns(const RunFilter& filter) override;
  Result<std::vector<StatusChange>> GetStatusHistory(std::string_view run_id) override;
  Result<Run> TransitionRun(std::string_view id, const Transition& transition) override;
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

 private:
  SqliteStore(Database db, const Clock& clock) : db_(std::move(db)), clock_(clock) {}

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back when it fails.
  Status InWriteTransaction(const std::function<Status()>& body);

  Result<Run> ReadRunLocked(std::string_view id);
  Status AppendSeriesLocked(std::string_view run_id, int rank, const MetricSeries& series);
  Status ReadRunDetailsLocked(Run& run);

  std::mutex mu_;
  // Guarded by mu_.
  Database db_;
  const Clock& clock_;
};

}  // namespace kiln::store::sqlite
