#pragma once

// HttpStore: the Store of a Kiln server, reached over its REST API. The CLI, the SDK and
// launchers use it when their runs belong to a server; every call is one request, and
// errors come back with the code the server's own store gave.
//
// What only the server may do is refused here: CreateRun (runs are created by submitting a
// job, client/submit.h) is Unimplemented, and API tokens are PermissionDenied (they are
// managed with `kiln server token` on the server's store).

#include <memory>

#include "store/http/api_client.h"
#include "store/store.h"

namespace kiln::store::http {

class HttpStore : public Store {
 public:
  explicit HttpStore(std::shared_ptr<ApiClient> api) : api_(std::move(api)) {}

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

  // The server registers models from its own runs (POST /v1/models, client/model_registry.h):
  // CreateModelVersion is refused here; removing goes to the server, which drops the file.
  Result<ModelVersion> CreateModelVersion(const ModelVersion& model) override;
  Result<ModelVersion> GetModelVersion(std::string_view name, std::int64_t version) override;
  Result<std::vector<ModelVersion>> ListModelVersions(std::string_view name) override;
  Status RemoveModelVersion(std::string_view name, std::int64_t version) override;
  // Deploying goes to the server (PUT .../deployment), which resolves the environment by
  // name in its own registry: `deployment.environment_json` is not sent.
  Result<ModelVersion> SetModelDeployment(std::string_view name, std::int64_t version,
                                          const ModelDeployment& deployment) override;
  Result<ModelVersion> RemoveModelDeployment(std::string_view name, std::int64_t version) override;

  // A server drives its own sweeps: CreateTrial, RecordJudgement and ReopenSweep are
  // Unimplemented.
  Result<Run> CreateTrial(const Run& run, const Trial& trial) override;
  Result<std::vector<Trial>> ListTrials(std::string_view sweep_id) override;
  Status RecordJudgement(std::string_view run_id, const TrialJudgement& judgement) override;
  Result<Run> ReopenSweep(std::string_view id, std::string_view detail) override;

  Status CreateApiToken(const ApiToken& token) override;
  Result<ApiToken> GetApiToken(std::string_view id) override;
  Result<std::vector<ApiToken>> ListApiTokens(bool include_run_tokens) override;
  Status RevokeApiToken(std::string_view id) override;

 private:
  std::shared_ptr<ApiClient> api_;
};

}  // namespace kiln::store::http
