#include "store/http/http_store.h"

#include <fmt/format.h>

#include "common/strings.h"
#include "store/record_json.h"
#include "store/wire.h"

namespace kiln::store::http {

using nlohmann::json;

namespace {

std::string RunPath(std::string_view id, std::string_view rest = "") {
  return fmt::format("/v1/runs/{}{}", UrlEncode(id), rest);
}

// `field` of a response object, or a DataLoss error naming the endpoint.
Result<json> Field(const json& response, std::string_view field, std::string_view path) {
  if (!response.is_object() || !response.contains(field)) {
    return DataLossError(fmt::format("the server's answer to {} has no '{}'", path, field));
  }
  return response[std::string(field)];
}

Status TokensRefused() {
  return PermissionDeniedError(
      "API tokens are managed on the server's store: run 'kiln server token ...' there");
}

}  // namespace

Result<Run> HttpStore::CreateRun(const Run&) {
  return UnimplementedError("a Kiln server creates runs from submitted jobs: use kiln submit");
}

Result<Run> HttpStore::GetRun(std::string_view id) {
  KILN_ASSIGN_OR_RETURN(const json run, api_->Get(RunPath(id)));
  return wire::RunFromJson(run);
}

Result<std::vector<Run>> HttpStore::ListRuns(const RunFilter& filter) {
  std::vector<std::string> query;
  if (filter.experiment) query.push_back("experiment=" + UrlEncode(*filter.experiment));
  if (filter.status) query.push_back(fmt::format("status={}", RunStatusName(*filter.status)));
  if (filter.only_active) query.push_back("active=true");
  if (filter.parent_id) query.push_back("parent=" + UrlEncode(*filter.parent_id));
  if (filter.top_level) query.push_back("top_level=true");
  if (filter.limit > 0) query.push_back(fmt::format("limit={}", filter.limit));
  if (filter.after) {
    query.push_back("after=" + UrlEncode(wire::RunPositionText(*filter.after)));
  }
  query.push_back(fmt::format("archived={}", wire::ArchivedRunsName(filter.archived)));
  if (!filter.where.empty()) query.push_back("where=" + UrlEncode(filter.where));
  const std::string path =
      query.empty() ? "/v1/runs" : fmt::format("/v1/runs?{}", JoinStrings(query, "&"));
  KILN_ASSIGN_OR_RETURN(const json response, api_->Get(path));
  KILN_ASSIGN_OR_RETURN(const json runs, Field(response, "runs", path));
  return wire::ListFromJson<Run>(runs, wire::RunFromJson);
}

Result<std::vector<StatusChange>> HttpStore::GetStatusHistory(std::string_view run_id) {
  const std::string path = RunPath(run_id, "/history");
  KILN_ASSIGN_OR_RETURN(const json response, api_->Get(path));
  KILN_ASSIGN_OR_RETURN(const json history, Field(response, "history", path));
  return wire::ListFromJson<StatusChange>(history, wire::StatusChangeFromJson);
}

Result<Run> HttpStore::TransitionRun(std::string_view id, const Transition& transition) {
  KILN_ASSIGN_OR_RETURN(
      const json run, api_->Post(RunPath(id, "/transitions"), wire::TransitionToJson(transition)));
  return wire::RunFromJson(run);
}

Result<Run> HttpStore::EditRun(std::string_view id, const RunEdit& edit) {
  KILN_ASSIGN_OR_RETURN(const json run, api_->Patch(RunPath(id), wire::RunEditToJson(edit)));
  return wire::RunFromJson(run);
}

Result<std::vector<Run>> HttpStore::DeleteRun(std::string_view id) {
  const std::string path = RunPath(id);
  KILN_ASSIGN_OR_RETURN(const json response, api_->Delete(path));
  KILN_ASSIGN_OR_RETURN(const json deleted, Field(response, "deleted", path));
  return wire::ListFromJson<Run>(deleted, wire::RunFromJson);
}

Result<StoreReferences> HttpStore::ListReferences() {
  return UnimplementedError("a Kiln server collects its own garbage: POST /v1/gc (kiln gc)");
}

Result<std::string> HttpStore::Compact() {
  return UnimplementedError("a Kiln server compacts its own store: POST /v1/gc (kiln gc)");
}

Status HttpStore::AppendMetrics(std::string_view run_id, const MetricBatch& batch) {
  return api_->Post(RunPath(run_id, "/metrics"), wire::MetricBatchToJson(batch)).status();
}

Result<std::uint64_t> HttpStore::GetSpoolOffset(std::string_view run_id, int rank) {
  const std::string path = RunPath(run_id, fmt::format("/spool-offsets/{}", rank));
  KILN_ASSIGN_OR_RETURN(const json response, api_->Get(path));
  KILN_ASSIGN_OR_RETURN(const json offset, Field(response, "offset", path));
  if (!offset.is_number_unsigned()) {
    return DataLossError(fmt::format("the server's offset from {} is not a number", path));
  }
  return offset.get<std::uint64_t>();
}

Result<std::vector<MetricSummary>> HttpStore::ListMetrics(std::string_view run_id) {
  const std::string path = RunPath(run_id, "/metrics");
  KILN_ASSIGN_OR_RETURN(const json response, api_->Get(path));
  KILN_ASSIGN_OR_RETURN(const json metrics, Field(response, "metrics", path));
  return wire::ListFromJson<MetricSummary>(metrics, wire::MetricSummaryFromJson);
}

Result<MetricSeries> HttpStore::ReadMetric(std::string_view run_id, std::string_view name,
                                           int rank) {
  KILN_ASSIGN_OR_RETURN(
      const json series,
      api_->Get(RunPath(run_id, fmt::format("/metrics/{}?rank={}", UrlEncode(name), rank))));
  return wire::MetricSeriesFromJson(series);
}

Result<std::vector<Experiment>> HttpStore::ListExperiments() {
  KILN_ASSIGN_OR_RETURN(const json response, api_->Get("/v1/experiments"));
  KILN_ASSIGN_OR_RETURN(const json experiments, Field(response, "experiments", "/v1/experiments"));
  return wire::ListFromJson<Experiment>(experiments, wire::ExperimentFromJson);
}

Status HttpStore::RegisterDatastore(const Datastore& datastore) {
  return api_->Post("/v1/datastores", ToJson(datastore)).status();
}

Result<Datastore> HttpStore::GetDatastore(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(const json datastore,
                        api_->Get(fmt::format("/v1/datastores/{}", UrlEncode(name))));
  return wire::DatastoreFromJson(datastore);
}

Result<std::vector<Datastore>> HttpStore::ListDatastores() {
  KILN_ASSIGN_OR_RETURN(const json response, api_->Get("/v1/datastores"));
  KILN_ASSIGN_OR_RETURN(const json datastores, Field(response, "datastores", "/v1/datastores"));
  return wire::ListFromJson<Datastore>(datastores, wire::DatastoreFromJson);
}

Status HttpStore::RemoveDatastore(std::string_view name) {
  return api_->Delete(fmt::format("/v1/datastores/{}", UrlEncode(name))).status();
}

Status HttpStore::AddComputeTarget(const ComputeTargetRecord& target) {
  return api_->Post("/v1/compute-targets", ToJson(target)).status();
}

Result<ComputeTargetRecord> HttpStore::GetComputeTarget(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(const json target,
                        api_->Get(fmt::format("/v1/compute-targets/{}", UrlEncode(name))));
  return wire::ComputeTargetFromJson(target);
}

Result<std::vector<ComputeTargetRecord>> HttpStore::ListComputeTargets() {
  KILN_ASSIGN_OR_RETURN(const json response, api_->Get("/v1/compute-targets"));
  KILN_ASSIGN_OR_RETURN(const json targets,
                        Field(response, "compute_targets", "/v1/compute-targets"));
  return wire::ListFromJson<ComputeTargetRecord>(targets, wire::ComputeTargetFromJson);
}

Status HttpStore::RemoveComputeTarget(std::string_view name) {
  return api_->Delete(fmt::format("/v1/compute-targets/{}", UrlEncode(name))).status();
}

Result<ModelVersion> HttpStore::CreateModelVersion(const ModelVersion&) {
  return PermissionDeniedError(
      "a Kiln server registers models from its runs itself (POST /v1/models); a client does "
      "not write model records");
}

Result<ModelVersion> HttpStore::GetModelVersion(std::string_view name, std::int64_t version) {
  KILN_ASSIGN_OR_RETURN(
      const json model,
      api_->Get(fmt::format("/v1/models/{}/versions/{}", UrlEncode(name),
                            version == 0 ? std::string("latest") : std::to_string(version))));
  return wire::ModelVersionFromJson(model);
}

Result<std::vector<ModelVersion>> HttpStore::ListModelVersions(std::string_view name) {
  const std::string path =
      name.empty() ? "/v1/models" : fmt::format("/v1/models/{}/versions", UrlEncode(name));
  KILN_ASSIGN_OR_RETURN(const json response, api_->Get(path));
  KILN_ASSIGN_OR_RETURN(const json models, Field(response, "models", path));
  return wire::ListFromJson<ModelVersion>(models, wire::ModelVersionFromJson);
}

Status HttpStore::RemoveModelVersion(std::string_view name, std::int64_t version) {
  return api_->Delete(fmt::format("/v1/models/{}/versions/{}", UrlEncode(name), version)).status();
}

Result<ModelVersion> HttpStore::SetModelDeployment(std::string_view name, std::int64_t version,
                                                   const ModelDeployment& deployment) {
  const json body = {
      {"entry_script", deployment.entry_script},
      {"snapshot", deployment.snapshot_id},
      {"environment",
       deployment.environment_name.empty() ? json(nullptr) : json(deployment.environment_name)}};
  KILN_ASSIGN_OR_RETURN(
      const json model,
      api_->Post(fmt::format("/v1/models/{}/versions/{}/deployment", UrlEncode(name), version),
                 body));
  return wire::ModelVersionFromJson(model);
}

Result<ModelVersion> HttpStore::RemoveModelDeployment(std::string_view name, std::int64_t version) {
  KILN_ASSIGN_OR_RETURN(
      const json model,
      api_->Delete(fmt::format("/v1/models/{}/versions/{}/deployment", UrlEncode(name), version)));
  return wire::ModelVersionFromJson(model);
}

Result<EnvironmentVersion> HttpStore::RegisterEnvironment(std::string_view name,
                                                          std::string_view definition_json) {
  const json definition = json::parse(definition_json, nullptr, /*allow_exceptions=*/false);
  KILN_ASSIGN_OR_RETURN(
      const json environment,
      api_->Post("/v1/environments", {{"name", name}, {"definition", definition}}));
  return wire::EnvironmentVersionFromJson(environment);
}

Result<EnvironmentVersion> HttpStore::GetEnvironment(std::string_view name, std::int64_t version) {
  KILN_ASSIGN_OR_RETURN(
      const json environment,
      api_->Get(fmt::format("/v1/environments/{}/versions/{}", UrlEncode(name),
                            version == 0 ? std::string("latest") : std::to_string(version))));
  return wire::EnvironmentVersionFromJson(environment);
}

Result<std::vector<EnvironmentVersion>> HttpStore::ListEnvironments(std::string_view name) {
  const std::string path = name.empty()
                               ? std::string("/v1/environments")
                               : fmt::format("/v1/environments/{}/versions", UrlEncode(name));
  KILN_ASSIGN_OR_RETURN(const json response, api_->Get(path));
  KILN_ASSIGN_OR_RETURN(const json environments, Field(response, "environments", path));
  return wire::ListFromJson<EnvironmentVersion>(environments, wire::EnvironmentVersionFromJson);
}

Result<Run> HttpStore::CreateTrial(const Run&, const Trial&) {
  return UnimplementedError("a Kiln server makes its sweeps' trials itself");
}

Result<std::vector<Trial>> HttpStore::ListTrials(std::string_view sweep_id) {
  const std::string path = RunPath(sweep_id, "/trials");
  KILN_ASSIGN_OR_RETURN(const json response, api_->Get(path));
  KILN_ASSIGN_OR_RETURN(const json trials, Field(response, "trials", path));
  return wire::ListFromJson<Trial>(trials, wire::TrialFromJson);
}

Status HttpStore::RecordJudgement(std::string_view, const TrialJudgement&) {
  return UnimplementedError("a Kiln server judges its sweeps' trials itself");
}

Result<Run> HttpStore::ReopenSweep(std::string_view, std::string_view) {
  return UnimplementedError("a Kiln server resumes its sweeps itself");
}

Status HttpStore::CreateApiToken(const ApiToken&) { return TokensRefused(); }
Result<ApiToken> HttpStore::GetApiToken(std::string_view) { return TokensRefused(); }
Result<std::vector<ApiToken>> HttpStore::ListApiTokens(bool) { return TokensRefused(); }
Status HttpStore::RevokeApiToken(std::string_view) { return TokensRefused(); }

}  // namespace kiln::store::http
