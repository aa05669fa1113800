#include "store/record_json.h"

#include "store/wire.h"

namespace kiln::store {

using nlohmann::json;

namespace {
json TimeOrNull(const std::optional<Timestamp>& t) {
  return t ? json(FormatTimestamp(*t)) : json(nullptr);
}
}  // namespace

json ToJson(const Run& run) {
  json params = json::array();
  for (const RunParam& param : run.params) {
    params.push_back({{"name", param.name},
                      {"value", param.value ? json(*param.value) : json(nullptr)},
                      {"resolved", param.resolved ? json(*param.resolved) : json(nullptr)}});
  }
  json spec = json::parse(run.spec_json, nullptr, /*allow_exceptions=*/false);
  return {
      {"id", run.id},
      {"experiment", run.experiment},
      {"display_name", run.display_name},
      {"description", run.description},
      {"archived_at", TimeOrNull(run.archived_at)},
      {"status", std::string(RunStatusName(run.status))},
      {"created_at", FormatTimestamp(run.created_at)},
      {"started_at", TimeOrNull(run.started_at)},
      {"ended_at", TimeOrNull(run.ended_at)},
      {"exit_code", run.exit_code ? json(*run.exit_code) : json(nullptr)},
      {"failure_reason", run.failure_reason.empty() ? json(nullptr) : json(run.failure_reason)},
      {"failure_log_tail", run.failure_log_tail},
      {"snapshot_id", run.snapshot_id},
      {"compute_target", run.compute_target},
      {"run_dir", run.run_dir},
      {"host", run.host},
      {"submitted_by", run.submitted_by.empty() ? json(nullptr) : json(run.submitted_by)},
      {"kind", std::string(RunKindName(run.kind))},
      {"parent_id", run.parent_id.empty() ? json(nullptr) : json(run.parent_id)},
      {"target_detail", run.target_detail.empty() ? json(nullptr) : json(run.target_detail)},
      {"params", params},
      {"tags", run.tags},
      {"spec", spec.is_discarded() ? json(nullptr) : spec},
  };
}

json ToJson(const Trial& trial) {
  json params = json::parse(trial.params_json, nullptr, /*allow_exceptions=*/false);
  return {{"sweep_id", trial.sweep_id},
          {"index", trial.index},
          {"run_id", trial.run_id},
          {"params", params.is_discarded() ? json::object() : params},
          {"status", std::string(RunStatusName(trial.status))},
          {"judged_through", trial.judged_through},
          {"intervals", trial.intervals},
          {"best", trial.best ? wire::NumberToJson(*trial.best) : json(nullptr)},
          {"stop_reason", trial.stop_reason.empty() ? json(nullptr) : json(trial.stop_reason)},
          {"created_at", FormatTimestamp(trial.created_at)},
          {"started_at", TimeOrNull(trial.started_at)},
          {"ended_at", TimeOrNull(trial.ended_at)}};
}

json ToJson(const StatusChange& change) {
  return {{"status", std::string(RunStatusName(change.status))},
          {"at", FormatTimestamp(change.at)},
          {"detail", change.detail}};
}

json ToJson(const Experiment& experiment) {
  return {{"name", experiment.name},
          {"created_at", FormatTimestamp(experiment.created_at)},
          {"run_count", experiment.run_count}};
}

json ToJson(const ComputeTargetRecord& target) {
  json config = json::parse(target.config_json, nullptr, /*allow_exceptions=*/false);
  return {{"name", target.name},
          {"type", target.type},
          {"config", config.is_discarded() ? json::object() : config},
          {"created_at", FormatTimestamp(target.created_at)}};
}

namespace {
json ObjectOrEmpty(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return value.is_object() ? value : json::object();
}
}  // namespace

json ToJson(const EnvironmentVersion& environment) {
  json definition = json::parse(environment.definition_json, nullptr, /*allow_exceptions=*/false);
  return {{"name", environment.name},
          {"version", environment.version},
          {"definition", definition.is_discarded() ? json::object() : definition},
          {"created_at", FormatTimestamp(environment.created_at)}};
}

json ToJson(const ModelVersion& model) {
  json tags = json::object();
  for (const auto& [key, value] : model.tags) tags[key] = value;
  return {{"name", model.name},
          {"version", model.version},
          {"run", model.run_id},
          {"experiment", model.experiment},
          {"snapshot", model.snapshot_id},
          {"path", model.path},
          {"format", model.format},
          {"sha256", model.sha256},
          {"size_bytes", model.size_bytes},
          {"description", model.description},
          {"tags", tags},
          {"metrics", ObjectOrEmpty(model.metrics_json)},
          {"parity", ObjectOrEmpty(model.parity_json)},
          {"signature", ObjectOrEmpty(model.signature_json)},
          {"created_at", FormatTimestamp(model.created_at)},
          {"deployment", model.deployment ? ToJson(*model.deployment) : json(nullptr)}};
}

json ToJson(const ModelDeployment& deployment) {
  return {{"entry_script", deployment.entry_script},
          {"snapshot", deployment.snapshot_id},
          {"environment",
           deployment.environment_name.empty() ? json(nullptr) : json(deployment.environment_name)},
          {"environment_definition", ObjectOrEmpty(deployment.environment_json)},
          {"deployed_at", FormatTimestamp(deployment.deployed_at)}};
}

json ToJson(const Datastore& datastore) {
  return {{"name", datastore.name},
          {"type", datastore.type},
          {"path", datastore.path},
          {"created_at", FormatTimestamp(datastore.created_at)}};
}

json ToJson(const MetricSummary& summary) {
  const auto number = [](const std::optional<double>& v) {
    return v ? wire::NumberToJson(*v) : json(nullptr);
  };
  return {{"name", summary.name},
          {"rank", summary.rank},
          {"kind", std::string(MetricKindName(summary.kind))},
          {"description", summary.description},
          {"count", summary.count},
          {"last", number(summary.last)},
          {"min", number(summary.min)},
          {"max", number(summary.max)},
          {"last_step", summary.last_step ? json(*summary.last_step) : json(nullptr)},
          {"last_at", FormatTimestamp(summary.last_at)}};
}

json ToJson(const MetricSeries& series) {
  json out = {{"name", series.name},
              {"rank", series.rank},
              {"kind", std::string(MetricKindName(series.kind))},
              {"description", series.description}};
  json times = json::array();
  json values = json::array();
  if (series.kind == MetricKind::kScalar) {
    json steps = json::array();
    for (const MetricPoint& point : series.points) {
      steps.push_back(point.step);
      values.push_back(wire::NumberToJson(point.value));
      times.push_back(point.at);
    }
    out["steps"] = std::move(steps);
  } else {
    for (const MetricValue& value : series.values) {
      values.push_back(json::parse(value.json, nullptr, /*allow_exceptions=*/false));
      times.push_back(value.at);
    }
  }
  out["values"] = std::move(values);
  out["times"] = std::move(times);
  return out;
}

json ToJson(const ApiToken& token) {
  return {{"id", token.id},
          {"name", token.name},
          {"role", std::string(TokenRoleName(token.role))},
          {"run_id", token.run_id ? json(*token.run_id) : json(nullptr)},
          {"created_at", FormatTimestamp(token.created_at)},
          {"revoked_at", TimeOrNull(token.revoked_at)}};
}

}  // namespace kiln::store
