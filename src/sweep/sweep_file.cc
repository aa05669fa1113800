#include "sweep/sweep_file.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>

#include "common/files.h"
#include "common/strings.h"
#include "spec/spec_json.h"

namespace kiln::sweep {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A plain scalar as YAML 1.2's core schema reads it; quoted scalars stay text.
json ScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (std::optional<std::int64_t> integer = ParseInt64(text)) return *integer;
  errno = 0;
  char* end = nullptr;
  double number = std::strtod(text.c_str(), &end);
  bool numeric_start = text.find_first_not_of("+-.0123456789eE") == std::string::npos;
  if (numeric_start && errno == 0 && end == text.c_str() + text.size()) return number;
  return text;
}

json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json object = json::object();
      for (const auto& item : node) object[item.first.Scalar()] = YamlToJson(item.second);
      return object;
    }
    case YAML::NodeType::Sequence: {
      json list = json::array();
      for (const auto& item : node) list.push_back(YamlToJson(item));
      return list;
    }
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    default:
      return nullptr;
  }
}

}  // namespace

Result<LoadedSweep> LoadSweepFile(const fs::path& file, std::string_view given_label) {
  const std::string label = given_label.empty() ? file.string() : std::string(given_label);
  KILN_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(file));
  if (FirstInvalidUtf8(text)) {
    return InvalidArgumentError(fmt::format("{}: is not UTF-8 text", label));
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& error) {
    return InvalidArgumentError(
        fmt::format("{}: line {}: {}", label, error.mark.line + 1, error.msg));
  }
  if (!root.IsMap()) {
    return InvalidArgumentError(fmt::format("{}: must be a mapping of the sweep's fields", label));
  }
  const fs::path base = fs::absolute(file).parent_path();

  // The trial job: a job file's path, or a job written inline.
  const YAML::Node trial = root["trial"];
  Result<spec::LoadedJob> job = InvalidArgumentError(
      fmt::format("{}: trial: is required (a job file's path, or the job's fields)", label));
  if (trial && trial.IsScalar()) {
    fs::path job_file = fs::path(trial.Scalar());
    job = spec::LoadJobSpec(job_file.is_absolute() ? job_file : base / job_file, {});
    if (!job.ok()) job = job.status().WithPrefix(fmt::format("{}: trial", label));
  } else if (trial && trial.IsMap()) {
    job = spec::LoadJobSpecFromText(YAML::Dump(trial), fmt::format("{}: trial", label), base, {});
  } else if (trial) {
    job = InvalidArgumentError(
        fmt::format("{}: trial: must be a job file's path or the job's fields (a mapping)", label));
  }
  KILN_RETURN_IF_ERROR(job.status());

  json sweep = json::object();
  for (const auto& item : root) {
    if (!item.first.IsScalar()) {
      return InvalidArgumentError(fmt::format("{}: field names must be text", label));
    }
    const std::string& key = item.first.Scalar();
    if (key != "trial") sweep[key] = YamlToJson(item.second);
  }
  return LoadSweep(std::move(sweep), std::move(job).value(), label);
}

Result<json> YamlTextToJson(std::string_view text, std::string_view label) {
  if (FirstInvalidUtf8(text)) return InvalidArgumentError(fmt::format("{}: is not UTF-8", label));
  try {
    return YamlToJson(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& error) {
    return InvalidArgumentError(fmt::format("{}: {}", label, error.msg));
  }
}

Result<LoadedSweep> LoadSweep(json sweep, spec::LoadedJob trial, std::string_view label) {
  if (!sweep.is_object()) {
    return InvalidArgumentError(fmt::format("{}: must be a mapping of the sweep's fields", label));
  }
  sweep["trial"] = spec::SpecToJson(trial.spec);
  KILN_ASSIGN_OR_RETURN(SweepSpec spec, SweepFromJson(sweep, label));
  return LoadedSweep{std::move(spec), std::move(trial)};
}

}  // namespace kiln::sweep
