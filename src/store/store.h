#pragma once

// Store: where Kiln keeps experiments, runs and datastores.
//
// Backends: sqlite/ (embedded, the default) and postgres/, both through sql/SqlStore; an
// HTTP client comes with the server. Every backend passes the same parity suite
// (store_parity_test.cc). OpenStore() picks one by URL.
//
// Contract for every backend:
//   - Each call is atomic: a reader sees all of a write or none of it, also across
//     processes sharing the store.
//   - Status changes go through TransitionRun(), which allows only IsAllowedTransition()
//     moves, so concurrent writers (a launcher finishing, a user cancelling) cannot
//     produce an impossible history. Times are taken by the store's clock.
//   - Errors: NotFound for an unknown run or datastore, AlreadyExists for a duplicate,
//     FailedPrecondition for a transition the current status forbids (the message names
//     the current status), Unavailable when the store is locked or unreachable beyond its
//     timeout (retry), DataLoss for unreadable stored data.
// Implementations are thread-safe.

#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/records.h"

namespace kiln::store {

class Store {
 public:
  virtual ~Store() = default;

  // Stores a new run in Queued (its first history entry), creating its experiment on first
  // use. `run.status` and the times are ignored; the stored record is returned.
  virtual Result<Run> CreateRun(const Run& run) = 0;
  virtual Result<Run> GetRun(std::string_view id) = 0;
  // Newest first.
  virtual Result<std::vector<Run>> ListRuns(const RunFilter& filter) = 0;
  // Oldest first; the first entry is Queued.
  virtual Result<std::vector<StatusChange>> GetStatusHistory(std::string_view run_id) = 0;
  // Applies the transition and returns the run as it is afterwards. A transition into a
  // terminal status revokes the run's tokens (ApiToken::run_id) in the same transaction.
  virtual Result<Run> TransitionRun(std::string_view id, const Transition& transition) = 0;
  // Changes what describes a run (RunEdit) in one transaction and returns the run as it is
  // afterwards. NotFound for an unknown run; FailedPrecondition for archiving a run that has
  // not ended.
  virtual Result<Run> EditRun(std::string_view id, const RunEdit& edit) = 0;
  // Removes an ended run's records, a sweep's with its trials' (params, tags, history,
  // metrics, trials, its launcher tokens) in one transaction, and returns the runs removed,
  // so their folders can go too. NotFound; FailedPrecondition naming a run that has not
  // ended, with nothing removed. Model versions registered from it stay.
  virtual Result<std::vector<Run>> DeleteRun(std::string_view id) = 0;
  // What the runs, model versions and deployments refer to (StoreReferences), for `kiln gc`.
  virtual Result<StoreReferences> ListReferences() = 0;
  // Returns the space the store's journal holds to the filesystem (SQLite: a WAL checkpoint
  // that truncates the -wal file); says what it did.
  virtual Result<std::string> Compact() = 0;

  // Metrics, ingested from the ranks' spools. AppendMetrics stores a batch and the rank's new
  // spool offset in one transaction; when the stored offset is not batch.offset_before the
  // batch was ingested already and FailedPrecondition comes back with nothing written, so a
  // re-read spool never duplicates a point. InvalidArgument when a name changes its kind.
  virtual Status AppendMetrics(std::string_view run_id, const MetricBatch& batch) = 0;
  // 0 when nothing of that rank was ingested.
  virtual Result<std::uint64_t> GetSpoolOffset(std::string_view run_id, int rank) = 0;
  // Every metric of the run, all ranks, by name then rank.
  virtual Result<std::vector<MetricSummary>> ListMetrics(std::string_view run_id) = 0;
  // NotFound for a name the rank never logged.
  virtual Result<MetricSeries> ReadMetric(std::string_view run_id, std::string_view name,
                                          int rank) = 0;

  virtual Result<std::vector<Experiment>> ListExperiments() = 0;

  virtual Status RegisterDatastore(const Datastore& datastore) = 0;
  virtual Result<Datastore> GetDatastore(std::string_view name) = 0;
  virtual Result<std::vector<Datastore>> ListDatastores() = 0;
  virtual Status RemoveDatastore(std::string_view name) = 0;

  // Registered compute targets. AlreadyExists for a taken name, NotFound for an unknown one.
  virtual Status AddComputeTarget(const ComputeTargetRecord& target) = 0;
  virtual Result<ComputeTargetRecord> GetComputeTarget(std::string_view name) = 0;
  virtual Result<std::vector<ComputeTargetRecord>> ListComputeTargets() = 0;  // by name
  virtual Status RemoveComputeTarget(std::string_view name) = 0;

  // Model versions. CreateModelVersion gives `model.version` the next number of its name
  // (1 for a new name) and stores it; the record is returned. GetModelVersion takes
  // version 0 for the latest; NotFound for an unknown name or version. ListModelVersions:
  // every version of `name` (of every name when empty), by name, newest version first.
  virtual Result<ModelVersion> CreateModelVersion(const ModelVersion& model) = 0;
  virtual Result<ModelVersion> GetModelVersion(std::string_view name, std::int64_t version) = 0;
  virtual Result<std::vector<ModelVersion>> ListModelVersions(std::string_view name) = 0;
  virtual Status RemoveModelVersion(std::string_view name, std::int64_t version) = 0;
  // Registered job environments (EnvironmentVersion). RegisterEnvironment stores
  // `definition_json` as the next version of `name`, or returns the latest version unchanged
  // when its definition is the same text. GetEnvironment's `version` 0 is the latest;
  // NotFound naming the versions there are. ListEnvironments: with a name, every version of
  // it, newest first; without, the latest version of every name, by name.
  virtual Result<EnvironmentVersion> RegisterEnvironment(std::string_view name,
                                                         std::string_view definition_json) = 0;
  virtual Result<EnvironmentVersion> GetEnvironment(std::string_view name,
                                                    std::int64_t version) = 0;
  virtual Result<std::vector<EnvironmentVersion>> ListEnvironments(std::string_view name) = 0;

  // A version's deployment (ModelVersion::deployment): SetModelDeployment records it,
  // replacing any earlier one of that version, in one transaction, and returns the version
  // as it is afterwards (`deployed_at` by the store's clock); NotFound for an unknown
  // version. RemoveModelDeployment forgets it; NotFound when the version has none. Removing
  // a version removes its deployment with it.
  virtual Result<ModelVersion> SetModelDeployment(std::string_view name, std::int64_t version,
                                                  const ModelDeployment& deployment) = 0;
  virtual Result<ModelVersion> RemoveModelDeployment(std::string_view name,
                                                     std::int64_t version) = 0;

  // Sweeps (docs/sweeps.md). A sweep is a run of kind kSweep; each trial is a run of kind
  // kJob whose parent_id is the sweep, with a Trial record beside it.
  // CreateTrial stores the trial's run (as CreateRun does; run.parent_id must be
  // trial.sweep_id) and its Trial record in one transaction: NotFound for an unknown
  // sweep, FailedPrecondition when the run is not a sweep or is not Queued, Preparing or
  // Running (a sweep canceling or ending makes none), AlreadyExists when
  // its index is taken, so two drivers of one sweep can never both make trial N.
  virtual Result<Run> CreateTrial(const Run& run, const Trial& trial) = 0;
  // The sweep's trials by index, each with its run's status and times; NotFound for an
  // unknown sweep.
  virtual Result<std::vector<Trial>> ListTrials(std::string_view sweep_id) = 0;
  // Stores a judgement of a trial, if the trial's judged_through is still
  // judgement.judged_before; otherwise FailedPrecondition with nothing written (those
  // intervals were judged already), which makes each interval's judgement exactly-once.
  // NotFound for a run that is no trial.
  virtual Status RecordJudgement(std::string_view run_id, const TrialJudgement& judgement) = 0;
  // Moves a Canceled or Failed sweep back to Queued, to be driven again (`kiln sweep
  // resume`), recording `detail` in its history; its end time and failure are cleared.
  // FailedPrecondition for a run that is not a sweep, or a sweep in any other status.
  virtual Result<Run> ReopenSweep(std::string_view id, std::string_view detail) = 0;

  // API tokens of a server, with their roles. AlreadyExists for a taken id or name. NotFound
  // for an unknown id; revoking keeps the record (revoked_at set), revoking twice is
  // FailedPrecondition. Stores made before roles existed give their tokens the admin role.
  // Only a backend that is the server's own store holds tokens: the HTTP client refuses
  // these with PermissionDenied.
  virtual Status CreateApiToken(const ApiToken& token) = 0;
  virtual Result<ApiToken> GetApiToken(std::string_view id) = 0;
  // Oldest first; run tokens only when `include_run_tokens`.
  virtual Result<std::vector<ApiToken>> ListApiTokens(bool include_run_tokens) = 0;
  virtual Status RevokeApiToken(std::string_view id) = 0;
};

}  // namespace kiln::store
