#include "spec/spec_json.h"

#include <fmt/format.h>

#include <limits>

#include "spec/validate.h"

namespace kiln::spec {

using nlohmann::json;

json SpecToJson(const JobSpec& spec) {
  json params = json::array();
  for (const ScriptParam& param : spec.script_params) {
    params.push_back(
        {{"name", param.name}, {"value", param.value ? json(*param.value) : json(nullptr)}});
  }
  json environment = json::array();
  for (const auto& [name, value] : spec.environment_variables) {
    environment.push_back({{"name", name}, {"value", value}});
  }
  return {
      {"version", kJobSpecVersion},
      {"source_directory", spec.source_directory.string()},
      {"entry_script", spec.entry_script},
      {"script_params", params},
      {"compute_target", spec.compute_target},
      {"conda_packages", spec.conda_packages},
      {"pip_packages", spec.pip_packages},
      {"use_gpu", spec.use_gpu},
      {"node_count", spec.node_count},
      {"process_count_per_node", spec.process_count_per_node},
      {"slots_per_rank", spec.slots_per_rank},
      {"distributed_backend", BackendName(spec.distributed_backend)},
      {"experiment", spec.experiment},
      {"display_name", spec.display_name},
      {"tags", spec.tags},
      {"environment_variables", environment},
      {"max_run_duration_seconds",
       spec.max_run_duration_seconds ? json(*spec.max_run_duration_seconds) : json(nullptr)},
      {"python", spec.python},
      {"environment", spec.environment ? env::EnvironmentToJson(*spec.environment) : json(nullptr)},
      {"environment_name", spec.environment_name},
      {"environment_hash", spec.environment_hash},
  };
}

namespace {

// An int field, refused rather than wrapped or truncated when it is not one.
Result<int> IntField(const json& in, const char* field) {
  const json& value = in.at(field);
  if (!value.is_number_integer()) {
    return DataLossError(fmt::format("{}: must be an integer, got {}", field, value.dump()));
  }
  // Parsed JSON holds a non-negative integer as unsigned.
  if (value.is_number_unsigned() &&
      value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
    return DataLossError(
        fmt::format("{}: must be <= {}, got {}", field, kMaxCount, value.get<std::uint64_t>()));
  }
  const std::int64_t number = value.get<std::int64_t>();
  if (number < std::numeric_limits<int>::min() || number > std::numeric_limits<int>::max()) {
    return DataLossError(
        fmt::format("{}: {}", field, CountProblem(number).value_or("is out of range")));
  }
  return static_cast<int>(number);
}

}  // namespace

Result<JobSpec> SpecFromJson(const json& in) {
  try {
    JobSpec spec;
    const int version = in.at("version").get<int>();
    if (version != kJobSpecVersion) {
      return DataLossError(fmt::format("stored job spec has version {}, this Kiln reads {}",
                                       version, kJobSpecVersion));
    }
    spec.source_directory = in.at("source_directory").get<std::string>();
    spec.entry_script = in.at("entry_script").get<std::string>();
    for (const json& param : in.at("script_params")) {
      ScriptParam p;
      p.name = param.at("name").get<std::string>();
      if (!param.at("value").is_null()) p.value = param.at("value").get<std::string>();
      spec.script_params.push_back(std::move(p));
    }
    spec.compute_target = in.at("compute_target").get<std::string>();
    spec.conda_packages = in.at("conda_packages").get<std::vector<std::string>>();
    spec.pip_packages = in.at("pip_packages").get<std::vector<std::string>>();
    spec.use_gpu = in.at("use_gpu").get<bool>();
    KILN_ASSIGN_OR_RETURN(spec.node_count, IntField(in, "node_count"));
    KILN_ASSIGN_OR_RETURN(spec.process_count_per_node, IntField(in, "process_count_per_node"));
    // Specs stored before slots_per_rank existed take one slot per rank.
    if (in.contains("slots_per_rank")) {
      KILN_ASSIGN_OR_RETURN(spec.slots_per_rank, IntField(in, "slots_per_rank"));
    }
    const auto backend = ParseBackend(in.at("distributed_backend").get<std::string>());
    if (!backend) return DataLossError("stored job spec has an unknown distributed_backend");
    spec.distributed_backend = *backend;
    spec.experiment = in.at("experiment").get<std::string>();
    spec.display_name = in.at("display_name").get<std::string>();
    spec.tags = in.at("tags").get<std::map<std::string, std::string>>();
    for (const json& variable : in.at("environment_variables")) {
      spec.environment_variables.emplace_back(variable.at("name").get<std::string>(),
                                              variable.at("value").get<std::string>());
    }
    if (const json& limit = in.at("max_run_duration_seconds"); !limit.is_null()) {
      if (!limit.is_number_integer()) {
        return DataLossError("max_run_duration_seconds: must be an integer or null");
      }
      spec.max_run_duration_seconds = limit.get<std::int64_t>();
    }
    spec.python = in.at("python").get<std::string>();
    // Specs stored before environments existed have none of these.
    if (in.contains("environment") && !in.at("environment").is_null()) {
      KILN_ASSIGN_OR_RETURN(spec.environment, env::EnvironmentFromJson(in.at("environment")));
    }
    spec.environment_name = in.value("environment_name", "");
    spec.environment_hash = in.value("environment_hash", "");
    return spec;
  } catch (const json::exception& error) {
    return DataLossError(fmt::format("stored job spec is unreadable: {}", error.what()));
  }
}

}  // namespace kiln::spec
