#include "store/record_json.h"

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
      {"params", params},
      {"tags", run.tags},
      {"spec", spec.is_discarded() ? json(nullptr) : spec},
  };
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

json ToJson(const Datastore& datastore) {
  return {{"name", datastore.name},
          {"type", datastore.type},
          {"path", datastore.path},
          {"created_at", FormatTimestamp(datastore.created_at)}};
}

}  // namespace kiln::store
