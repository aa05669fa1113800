#include "store/wire.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "store/record_json.h"

namespace kiln::store::wire {

using nlohmann::json;

namespace {

// Reads the fields of one JSON object, keeping the first problem; every accessor returns a
// default once a problem was seen, so a reader reads on and checks status() at the end.
class Fields {
 public:
  Fields(const json& object, std::string_view what) : object_(object), what_(what) {
    if (!object.is_object()) Fail("", "expected a JSON object");
  }

  const Status& status() const { return status_; }

  std::string Text(std::string_view key) {
    const json* value = Find(key, /*optional=*/false);
    if (value == nullptr) return {};
    if (!value->is_string()) return Fail(key, "expected a string"), std::string();
    return value->get<std::string>();
  }
  std::optional<std::string> OptionalText(std::string_view key) {
    const json* value = Find(key, /*optional=*/true);
    if (value == nullptr || value->is_null()) return std::nullopt;
    if (!value->is_string()) return Fail(key, "expected a string or null"), std::nullopt;
    return value->get<std::string>();
  }
  std::int64_t Int(std::string_view key) {
    return OptionalInt(key, /*optional=*/false).value_or(0);
  }
  std::optional<std::int64_t> OptionalInt(std::string_view key, bool optional = true) {
    const json* value = Find(key, optional);
    if (value == nullptr || value->is_null()) return std::nullopt;
    if (!value->is_number_integer()) return Fail(key, "expected an integer"), std::nullopt;
    return value->get<std::int64_t>();
  }
  std::optional<double> OptionalNumber(std::string_view key) {
    const json* value = Find(key, /*optional=*/true);
    if (value == nullptr || value->is_null()) return std::nullopt;
    Result<double> number = NumberFromJson(*value);
    if (!number.ok()) return Fail(key, number.status().message()), std::nullopt;
    return *number;
  }
  Timestamp Time(std::string_view key) { return OptionalTime(key, false).value_or(0); }
  std::optional<Timestamp> OptionalTime(std::string_view key, bool optional = true) {
    const std::optional<std::string> text = optional ? OptionalText(key) : Text(key);
    if (!text || !status_.ok()) return std::nullopt;
    const std::optional<Timestamp> time = ParseTimestamp(*text);
    if (!time) Fail(key, fmt::format("'{}' is not a time like 2026-12-01T09:12:33.000000Z", *text));
    return time;
  }
  RunStatus Status_(std::string_view key) {
    const std::string text = Text(key);
    if (!status_.ok()) return RunStatus::kQueued;
    const std::optional<RunStatus> parsed = ParseRunStatus(text);
    if (!parsed) Fail(key, fmt::format("'{}' is not a run status", text));
    return parsed.value_or(RunStatus::kQueued);
  }
  MetricKind Kind(std::string_view key) {
    const std::string text = Text(key);
    if (!status_.ok()) return MetricKind::kScalar;
    const std::optional<MetricKind> parsed = ParseMetricKind(text);
    if (!parsed) Fail(key, fmt::format("'{}' is not a metric kind", text));
    return parsed.value_or(MetricKind::kScalar);
  }
  std::vector<std::string> TextList(std::string_view key) {
    const json* value = Find(key, /*optional=*/true);
    std::vector<std::string> out;
    if (value == nullptr || value->is_null()) return out;
    if (!value->is_array()) return Fail(key, "expected a list of strings"), out;
    for (const json& item : *value) {
      if (!item.is_string()) return Fail(key, "expected a list of strings"), out;
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  // The value itself, for the caller to read; null when absent.
  const json& Raw(std::string_view key) {
    static const json kNull;
    const json* value = Find(key, /*optional=*/true);
    return value == nullptr ? kNull : *value;
  }

  void Fail(std::string_view key, std::string_view problem) {
    if (!status_.ok()) return;
    status_ = InvalidArgumentError(key.empty() ? fmt::format("{}: {}", what_, problem)
                                               : fmt::format("{}.{}: {}", what_, key, problem));
  }

 private:
  const json* Find(std::string_view key, bool optional) {
    if (!status_.ok()) return nullptr;
    const auto it = object_.find(key);
    if (it == object_.end()) {
      if (!optional) Fail(key, "is missing");
      return nullptr;
    }
    return &*it;
  }

  const json& object_;
  std::string_view what_;
  Status status_;
};

}  // namespace

std::string RunPositionText(const RunFilter::Position& position) {
  return fmt::format("{}:{}", position.created_at, position.id);
}

Result<RunFilter::Position> RunPositionFromText(std::string_view text) {
  const std::size_t colon = text.find(':');
  RunFilter::Position position;
  if (colon != std::string_view::npos && colon + 1 < text.size()) {
    const auto [end, error] =
        std::from_chars(text.data(), text.data() + colon, position.created_at);
    if (error == std::errc() && end == text.data() + colon) {
      position.id = std::string(text.substr(colon + 1));
      return position;
    }
  }
  return InvalidArgumentError(fmt::format(
      "query parameter after: '{}' is not a cursor; pass a page's next_cursor as it came", text));
}

json NumberToJson(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return value;
}

Result<double> NumberFromJson(const json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (text == "Infinity") return std::numeric_limits<double>::infinity();
    if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return InvalidArgumentError("expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")");
}

Result<nlohmann::json> ParseBody(std::string_view body) {
  try {
    return json::parse(body);
  } catch (const json::parse_error& error) {
    return InvalidArgumentError(fmt::format("the body is not valid JSON: {}", error.what()));
  }
}

Result<Run> RunFromJson(const json& json_run) {
  Fields f(json_run, "run");
  Run run;
  run.id = f.Text("id");
  run.experiment = f.Text("experiment");
  run.display_name = f.Text("display_name");
  // Servers older than descriptions and archiving send neither.
  run.description = f.OptionalText("description").value_or("");
  run.archived_at = f.OptionalTime("archived_at");
  run.status = f.Status_("status");
  run.created_at = f.Time("created_at");
  run.started_at = f.OptionalTime("started_at");
  run.ended_at = f.OptionalTime("ended_at");
  if (const auto code = f.OptionalInt("exit_code")) run.exit_code = static_cast<int>(*code);
  run.failure_reason = f.OptionalText("failure_reason").value_or("");
  run.failure_log_tail = f.TextList("failure_log_tail");
  run.snapshot_id = f.Text("snapshot_id");
  run.compute_target = f.Text("compute_target");
  run.run_dir = f.Text("run_dir");
  run.host = f.Text("host");
  run.submitted_by = f.OptionalText("submitted_by").value_or("");
  run.target_detail = f.OptionalText("target_detail").value_or("");
  run.parent_id = f.OptionalText("parent_id").value_or("");
  if (const std::optional<std::string> kind = f.OptionalText("kind")) {
    const std::optional<RunKind> parsed = ParseRunKind(*kind);
    if (parsed) {
      run.kind = *parsed;
    } else {
      f.Fail("kind", fmt::format("'{}' is not a kind of run", *kind));
    }
  }
  const json& params = f.Raw("params");
  if (params.is_array()) {
    for (const json& item : params) {
      Fields p(item, "run.params[]");
      RunParam param{p.Text("name"), p.OptionalText("value"), p.OptionalText("resolved")};
      if (!p.status().ok()) return p.status();
      run.params.push_back(std::move(param));
    }
  } else if (!params.is_null()) {
    f.Fail("params", "expected a list");
  }
  const json& tags = f.Raw("tags");
  if (tags.is_object()) {
    for (const auto& [key, value] : tags.items()) {
      if (!value.is_string()) {
        f.Fail("tags", "expected string values");
        break;
      }
      run.tags[key] = value.get<std::string>();
    }
  } else if (!tags.is_null()) {
    f.Fail("tags", "expected an object");
  }
  const json& spec = f.Raw("spec");
  run.spec_json = spec.is_null() ? "{}" : spec.dump();
  if (!f.status().ok()) return f.status();
  return run;
}

Result<Trial> TrialFromJson(const json& json_trial) {
  Fields f(json_trial, "trial");
  Trial trial;
  trial.sweep_id = f.Text("sweep_id");
  trial.index = f.Int("index");
  trial.run_id = f.Text("run_id");
  const json& params = f.Raw("params");
  if (!params.is_object()) f.Fail("params", "expected an object");
  trial.params_json = params.dump();
  trial.status = f.Status_("status");
  trial.judged_through = f.Int("judged_through");
  trial.intervals = f.Int("intervals");
  trial.best = f.OptionalNumber("best");
  trial.stop_reason = f.OptionalText("stop_reason").value_or("");
  trial.created_at = f.Time("created_at");
  trial.started_at = f.OptionalTime("started_at");
  trial.ended_at = f.OptionalTime("ended_at");
  if (!f.status().ok()) return f.status();
  return trial;
}

Result<StatusChange> StatusChangeFromJson(const json& json_change) {
  Fields f(json_change, "status change");
  StatusChange change{f.Status_("status"), f.Time("at"), f.Text("detail")};
  if (!f.status().ok()) return f.status();
  return change;
}

Result<Experiment> ExperimentFromJson(const json& json_experiment) {
  Fields f(json_experiment, "experiment");
  Experiment experiment{f.Text("name"), f.Time("created_at"), static_cast<int>(f.Int("run_count"))};
  if (!f.status().ok()) return f.status();
  return experiment;
}

Result<Datastore> DatastoreFromJson(const json& json_datastore) {
  Fields f(json_datastore, "datastore");
  Datastore datastore;
  datastore.name = f.Text("name");
  datastore.type = f.OptionalText("type").value_or("local");
  datastore.path = f.Text("path");
  datastore.created_at = f.OptionalTime("created_at").value_or(0);
  if (!f.status().ok()) return f.status();
  return datastore;
}

Result<ComputeTargetRecord> ComputeTargetFromJson(const json& json_target) {
  Fields f(json_target, "compute_target");
  ComputeTargetRecord target;
  target.name = f.Text("name");
  target.type = f.Text("type");
  const json& config = f.Raw("config");
  if (config.is_object()) {
    target.config_json = config.dump();
  } else {
    f.Fail("config", "expected an object");
  }
  target.created_at = f.OptionalTime("created_at").value_or(0);
  if (!f.status().ok()) return f.status();
  return target;
}

Result<EnvironmentVersion> EnvironmentVersionFromJson(const json& json_environment) {
  Fields f(json_environment, "environment");
  EnvironmentVersion environment;
  environment.name = f.Text("name");
  environment.version = f.Int("version");
  const json& definition = f.Raw("definition");
  if (!definition.is_object()) f.Fail("definition", "expected an object");
  environment.definition_json = definition.dump();
  environment.created_at = f.Time("created_at");
  if (!f.status().ok()) return f.status();
  return environment;
}

Result<ModelVersion> ModelVersionFromJson(const json& json_model) {
  Fields f(json_model, "model");
  ModelVersion model;
  model.name = f.Text("name");
  model.version = f.Int("version");
  model.run_id = f.Text("run");
  model.experiment = f.Text("experiment");
  model.snapshot_id = f.Text("snapshot");
  model.path = f.Text("path");
  model.format = f.Text("format");
  model.sha256 = f.Text("sha256");
  model.size_bytes = f.Int("size_bytes");
  model.description = f.OptionalText("description").value_or("");
  const json& tags = f.Raw("tags");
  if (tags.is_object()) {
    for (const auto& [key, value] : tags.items()) {
      if (!value.is_string()) {
        f.Fail("tags", "expected string values");
        break;
      }
      model.tags.emplace_back(key, value.get<std::string>());
    }
  } else {
    f.Fail("tags", "expected an object");
  }
  const auto object_text = [&](std::string_view key) -> std::string {
    const json& value = f.Raw(key);
    if (!value.is_object()) {
      f.Fail(key, "expected an object");
      return "{}";
    }
    return value.dump();
  };
  model.metrics_json = object_text("metrics");
  model.parity_json = object_text("parity");
  model.signature_json = object_text("signature");
  model.created_at = f.OptionalTime("created_at").value_or(0);
  if (!f.status().ok()) return f.status();
  // A server from before deployments sends none.
  if (const json& deployment = f.Raw("deployment"); !deployment.is_null()) {
    Fields d(deployment, "model.deployment");
    ModelDeployment& out = model.deployment.emplace();
    out.entry_script = d.Text("entry_script");
    out.snapshot_id = d.Text("snapshot");
    out.environment_name = d.OptionalText("environment").value_or("");
    const json& definition = d.Raw("environment_definition");
    out.environment_json = definition.is_object() ? definition.dump() : "{}";
    out.deployed_at = d.Time("deployed_at");
    if (!d.status().ok()) return d.status();
  }
  return model;
}

Result<MetricSummary> MetricSummaryFromJson(const json& json_summary) {
  Fields f(json_summary, "metric");
  MetricSummary summary;
  summary.name = f.Text("name");
  summary.rank = static_cast<int>(f.Int("rank"));
  summary.kind = f.Kind("kind");
  summary.description = f.Text("description");
  summary.count = f.Int("count");
  summary.last = f.OptionalNumber("last");
  summary.min = f.OptionalNumber("min");
  summary.max = f.OptionalNumber("max");
  summary.last_step = f.OptionalInt("last_step");
  summary.last_at = f.Time("last_at");
  if (!f.status().ok()) return f.status();
  return summary;
}

Result<MetricSeries> MetricSeriesFromJson(const json& json_series) {
  Fields f(json_series, "metric");
  MetricSeries series;
  series.name = f.Text("name");
  series.rank = static_cast<int>(f.Int("rank"));
  series.kind = f.Kind("kind");
  series.description = f.OptionalText("description").value_or("");
  const json& values = f.Raw("values");
  const json& times = f.Raw("times");
  const json& steps = f.Raw("steps");
  if (!f.status().ok()) return f.status();
  const bool scalar = series.kind == MetricKind::kScalar;
  if (!values.is_array() || !times.is_array() || values.size() != times.size() ||
      (scalar && (!steps.is_array() || steps.size() != values.size()))) {
    return InvalidArgumentError(
        fmt::format("metric '{}': values, times{} must be lists of one length", series.name,
                    scalar ? " and steps" : ""));
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!times[i].is_number_integer() || (scalar && !steps[i].is_number_integer())) {
      return InvalidArgumentError(
          fmt::format("metric '{}': point {}: times and steps are integers", series.name, i));
    }
    const Timestamp at = times[i].get<Timestamp>();
    if (scalar) {
      Result<double> value = NumberFromJson(values[i]);
      if (!value.ok()) {
        return value.status().WithPrefix(fmt::format("metric '{}': point {}", series.name, i));
      }
      series.points.push_back({steps[i].get<std::int64_t>(), *value, at});
    } else {
      series.values.push_back({at, values[i].dump()});
    }
  }
  return series;
}

json TransitionToJson(const Transition& transition) {
  return {{"to", std::string(RunStatusName(transition.to))},
          {"detail", transition.detail},
          {"exit_code", transition.exit_code ? json(*transition.exit_code) : json(nullptr)},
          {"failure_reason", transition.failure_reason},
          {"failure_log_tail", transition.failure_log_tail}};
}

Result<Transition> TransitionFromJson(const json& json_transition) {
  Fields f(json_transition, "transition");
  Transition transition;
  transition.to = f.Status_("to");
  transition.detail = f.OptionalText("detail").value_or("");
  if (const auto code = f.OptionalInt("exit_code")) transition.exit_code = static_cast<int>(*code);
  transition.failure_reason = f.OptionalText("failure_reason").value_or("");
  transition.failure_log_tail = f.TextList("failure_log_tail");
  if (!f.status().ok()) return f.status();
  return transition;
}

std::string_view ArchivedRunsName(ArchivedRuns archived) {
  switch (archived) {
    case ArchivedRuns::kHidden:
      return "false";
    case ArchivedRuns::kOnly:
      return "true";
    case ArchivedRuns::kIncluded:
      return "any";
  }
  return "any";
}

Result<ArchivedRuns> ParseArchivedRuns(std::string_view text) {
  for (ArchivedRuns archived :
       {ArchivedRuns::kHidden, ArchivedRuns::kOnly, ArchivedRuns::kIncluded}) {
    if (text == ArchivedRunsName(archived)) return archived;
  }
  return InvalidArgumentError(
      fmt::format("archived: '{}' is not false (the default: not archived), true (archived "
                  "only) or any",
                  text));
}

json RunEditToJson(const RunEdit& edit) {
  json out = json::object();
  if (edit.display_name) out["display_name"] = *edit.display_name;
  if (edit.description) out["description"] = *edit.description;
  if (!edit.set_tags.empty()) out["tags"] = edit.set_tags;
  if (!edit.remove_tags.empty()) out["remove_tags"] = edit.remove_tags;
  if (edit.archived) out["archived"] = *edit.archived;
  return out;
}

Result<RunEdit> RunEditFromJson(const json& json_edit) {
  if (!json_edit.is_object()) return InvalidArgumentError("edit: expected a JSON object");
  static constexpr std::string_view kMembers[] = {"display_name", "description", "tags",
                                                  "remove_tags", "archived"};
  for (const auto& [key, value] : json_edit.items()) {
    if (std::find(std::begin(kMembers), std::end(kMembers), key) == std::end(kMembers)) {
      return InvalidArgumentError(fmt::format(
          "edit: '{}' cannot be changed; a run's display_name, description, tags, remove_tags "
          "and archived can",
          key));
    }
  }
  Fields f(json_edit, "edit");
  RunEdit edit;
  edit.display_name = f.OptionalText("display_name");
  edit.description = f.OptionalText("description");
  edit.remove_tags = f.TextList("remove_tags");
  const json& tags = f.Raw("tags");
  if (tags.is_object()) {
    for (const auto& [key, value] : tags.items()) {
      if (!value.is_string()) return InvalidArgumentError("edit.tags: expected string values");
      edit.set_tags[key] = value.get<std::string>();
    }
  } else if (!tags.is_null()) {
    f.Fail("tags", "expected an object of strings");
  }
  const json& archived = f.Raw("archived");
  if (archived.is_boolean()) {
    edit.archived = archived.get<bool>();
  } else if (!archived.is_null()) {
    f.Fail("archived", "expected true or false");
  }
  if (!f.status().ok()) return f.status();
  return edit;
}

json MetricBatchToJson(const MetricBatch& batch) {
  json series = json::array();
  for (const MetricSeries& one : batch.series) series.push_back(ToJson(one));
  json tags = json::array();
  for (const auto& [key, value] : batch.tags) tags.push_back({key, value});
  return {{"rank", batch.rank},
          {"offset_before", batch.offset_before},
          {"offset_after", batch.offset_after},
          {"series", std::move(series)},
          {"tags", std::move(tags)}};
}

Result<MetricBatch> MetricBatchFromJson(const json& json_batch) {
  Fields f(json_batch, "batch");
  MetricBatch batch;
  batch.rank = static_cast<int>(f.Int("rank"));
  const std::int64_t before = f.Int("offset_before");
  const std::int64_t after = f.Int("offset_after");
  const json& series = f.Raw("series");
  const json& tags = f.Raw("tags");
  if (!f.status().ok()) return f.status();
  if (batch.rank < 0 || before < 0 || after < before) {
    return InvalidArgumentError(
        "batch: rank and offsets must be >= 0, and offset_after >= offset_before");
  }
  batch.offset_before = static_cast<std::uint64_t>(before);
  batch.offset_after = static_cast<std::uint64_t>(after);
  KILN_ASSIGN_OR_RETURN(
      batch.series,
      ListFromJson<MetricSeries>(series.is_null() ? json::array() : series, MetricSeriesFromJson));
  for (MetricSeries& one : batch.series) one.rank = batch.rank;
  if (!tags.is_null()) {
    if (!tags.is_array()) return InvalidArgumentError("batch.tags: expected [[key, value]...]");
    for (const json& pair : tags) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
        return InvalidArgumentError("batch.tags: expected [[key, value]...]");
      }
      batch.tags.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
    }
  }
  return batch;
}

}  // namespace kiln::store::wire
