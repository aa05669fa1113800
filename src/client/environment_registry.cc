#include "client/environment_registry.h"

#include <fmt/format.h>

#include <regex>

#include "common/files.h"
#include "common/strings.h"
#include "spec/spec_source.h"
#include "spec/validate.h"

namespace kiln::client {
namespace fs = std::filesystem;
namespace {

bool IsValidName(std::string_view name) {
  static const std::regex kPattern("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  return std::regex_match(name.begin(), name.end(), kPattern);
}

Result<RegisteredEnvironment> FromStored(const store::EnvironmentVersion& stored) {
  const nlohmann::json json = nlohmann::json::parse(stored.definition_json, nullptr, false);
  Result<env::EnvironmentSpec> spec = env::EnvironmentFromJson(json);
  if (!spec.ok()) {
    return DataLossError(fmt::format("environment {}:{} in the store is not a definition: {}",
                                     stored.name, stored.version, spec.status().message()));
  }
  spec->name = stored.name;
  return RegisteredEnvironment{std::move(spec).value(), stored.version, stored.created_at};
}

}  // namespace

Result<std::pair<std::string, std::int64_t>> ParseEnvironmentReference(std::string_view text) {
  std::string name(text);
  std::int64_t version = 0;
  if (const std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    name = std::string(text.substr(0, colon));
    const std::optional<std::int64_t> parsed = ParseInt64(std::string(text.substr(colon + 1)));
    if (!parsed || *parsed < 1) {
      return InvalidArgumentError(fmt::format(
          "'{}': the version after ':' must be a number from 1 (or leave it out for the latest)",
          text));
    }
    version = *parsed;
  }
  if (!IsValidName(name)) {
    return InvalidArgumentError(fmt::format(
        "'{}' is not an environment's name: 1 to 64 letters, digits, '.', '_' or '-', starting "
        "with a letter or digit (NAME or NAME:VERSION)",
        name));
  }
  return std::pair{name, version};
}

Status EnvironmentRegistry::ImportFiles() {
  if (imported_ || workspace_.server() != nullptr) return Status::Ok();
  imported_ = true;
  const fs::path root = workspace_.environments_root();
  std::error_code error;
  if (!fs::exists(root, error)) return Status::Ok();
  for (const fs::directory_entry& entry : fs::directory_iterator(root, error)) {
    if (entry.path().extension() != ".json") continue;
    const std::string name = entry.path().stem().string();
    const Result<store::EnvironmentVersion> known = workspace_.store().GetEnvironment(name, 0);
    if (known.ok() || known.status().code() != StatusCode::kNotFound) continue;
    KILN_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(entry.path()));
    const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
    Result<env::EnvironmentSpec> spec = env::EnvironmentFromJson(json);
    if (!spec.ok()) return spec.status().WithPrefix(entry.path().string());
    spec->name = name;
    KILN_RETURN_IF_ERROR(Register(*spec).status());
  }
  return Status::Ok();
}

Result<RegisteredEnvironment> EnvironmentRegistry::Register(const env::EnvironmentSpec& spec) {
  if (!IsValidName(spec.name)) {
    return InvalidArgumentError(fmt::format(
        "an environment to register needs a name of 1 to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit; got '{}'",
        spec.name));
  }
  // The same rules as a job's `environment`; the files it names are checked where it is
  // read from a file (kiln env register), not here, where a server may be the one asked.
  spec::ValidateOptions checks;
  checks.check_files = false;
  const std::vector<spec::Problem> problems =
      spec::FindEnvironmentProblems(spec, spec::SpecSource("environment", {}, {}), checks);
  if (!problems.empty()) {
    std::vector<std::string> lines;
    for (const spec::Problem& problem : problems) lines.push_back(problem.line);
    return InvalidArgumentError(JoinStrings(lines, "\n"));
  }
  KILN_RETURN_IF_ERROR(ImportFiles());
  KILN_ASSIGN_OR_RETURN(
      const store::EnvironmentVersion stored,
      workspace_.store().RegisterEnvironment(spec.name, env::EnvironmentToJson(spec).dump()));
  return FromStored(stored);
}

Result<RegisteredEnvironment> EnvironmentRegistry::Get(std::string_view reference) {
  KILN_ASSIGN_OR_RETURN(const auto parsed, ParseEnvironmentReference(reference));
  KILN_RETURN_IF_ERROR(ImportFiles());
  KILN_ASSIGN_OR_RETURN(const store::EnvironmentVersion stored,
                        workspace_.store().GetEnvironment(parsed.first, parsed.second));
  return FromStored(stored);
}

Result<std::vector<RegisteredEnvironment>> EnvironmentRegistry::List(std::string_view name) {
  KILN_RETURN_IF_ERROR(ImportFiles());
  KILN_ASSIGN_OR_RETURN(const std::vector<store::EnvironmentVersion> stored,
                        workspace_.store().ListEnvironments(name));
  std::vector<RegisteredEnvironment> out;
  for (const store::EnvironmentVersion& one : stored) {
    KILN_ASSIGN_OR_RETURN(out.emplace_back(), FromStored(one));
  }
  return out;
}

}  // namespace kiln::client
