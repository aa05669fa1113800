#pragma once

// The JSON a Kiln server and its clients exchange (docs/openapi.yaml). Records have the
// forms of store/record_json.h, which `kiln ... --json` prints too; this adds reading them
// back and the request bodies (transitions, metric batches). Readers check every field and
// name the one that is wrong: "run.status: 'Runing' is not a status".
//
// Numbers that JSON cannot hold (NaN, infinities) travel as the strings "NaN", "Infinity"
// and "-Infinity".

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string_view>

#include "common/result.h"
#include "store/records.h"

namespace kiln::store::wire {

Result<Run> RunFromJson(const nlohmann::json& json);
Result<StatusChange> StatusChangeFromJson(const nlohmann::json& json);
Result<Trial> TrialFromJson(const nlohmann::json& json);
Result<Experiment> ExperimentFromJson(const nlohmann::json& json);
Result<Datastore> DatastoreFromJson(const nlohmann::json& json);
Result<ComputeTargetRecord> ComputeTargetFromJson(const nlohmann::json& json);
Result<ModelVersion> ModelVersionFromJson(const nlohmann::json& json);
Result<EnvironmentVersion> EnvironmentVersionFromJson(const nlohmann::json& json);
Result<MetricSummary> MetricSummaryFromJson(const nlohmann::json& json);
Result<MetricSeries> MetricSeriesFromJson(const nlohmann::json& json);

nlohmann::json TransitionToJson(const Transition& transition);
Result<Transition> TransitionFromJson(const nlohmann::json& json);

// PATCH /v1/runs/{id}: {"display_name", "description", "tags": {k: v}, "remove_tags": [k],
// "archived": bool}, each member optional; any other member is refused by name.
nlohmann::json RunEditToJson(const RunEdit& edit);
Result<RunEdit> RunEditFromJson(const nlohmann::json& json);

// {"rank", "offset_before", "offset_after", "series": [MetricSeries...], "tags": [[k, v]...]}
nlohmann::json MetricBatchToJson(const MetricBatch& batch);
Result<MetricBatch> MetricBatchFromJson(const nlohmann::json& json);

// GET /v1/runs' ?archived=: "false" (kHidden, the default), "true" (kOnly), "any" (kIncluded).
std::string_view ArchivedRunsName(ArchivedRuns archived);
Result<ArchivedRuns> ParseArchivedRuns(std::string_view text);

// A run's place in the list order as a paging cursor, "<created_at>:<id>" (GET /v1/runs'
// next_cursor and ?after=); InvalidArgument for text that is not one.
std::string RunPositionText(const RunFilter::Position& position);
Result<RunFilter::Position> RunPositionFromText(std::string_view text);

nlohmann::json NumberToJson(double value);
// InvalidArgument for anything but a number or one of the three strings.
Result<double> NumberFromJson(const nlohmann::json& value);

// Reads `json[key]` as a list of records with `read`, naming each by its index.
template <typename T, typename Reader>
Result<std::vector<T>> ListFromJson(const nlohmann::json& json, Reader read) {
  if (!json.is_array()) return InvalidArgumentError("expected a JSON array");
  std::vector<T> out;
  out.reserve(json.size());
  for (std::size_t i = 0; i < json.size(); ++i) {
    Result<T> item = read(json[i]);
    if (!item.ok()) return item.status().WithPrefix(fmt::format("[{}]", i));
    out.push_back(std::move(item).value());
  }
  return out;
}

// Parses a request or response body; InvalidArgument naming where the JSON breaks.
Result<nlohmann::json> ParseBody(std::string_view body);

}  // namespace kiln::store::wire
