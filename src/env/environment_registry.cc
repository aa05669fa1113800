#include "env/environment_registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "common/files.h"

namespace kiln::env {
namespace fs = std::filesystem;
namespace {

bool IsValidName(const std::string& name) {
  static const std::regex kPattern("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  return std::regex_match(name, kPattern);
}

Result<EnvironmentSpec> ReadDefinition(const fs::path& path) {
  KILN_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) return DataLossError(fmt::format("{} is not JSON", path.string()));
  Result<EnvironmentSpec> spec = EnvironmentFromJson(json);
  if (!spec.ok()) return spec.status().WithPrefix(path.string());
  return spec;
}

}  // namespace

Status EnvironmentRegistry::Register(const EnvironmentSpec& spec) {
  if (!IsValidName(spec.name)) {
    return InvalidArgumentError(fmt::format(
        "an environment to register needs a name of 1 to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit; got '{}'",
        spec.name));
  }
  KILN_RETURN_IF_ERROR(CreateDirectories(root_));
  return WriteFileAtomically(root_ / (spec.name + ".json"), EnvironmentToJson(spec).dump(2) + "\n");
}

Result<EnvironmentSpec> EnvironmentRegistry::Get(const std::string& name) const {
  const fs::path path = root_ / (name + ".json");
  std::error_code error;
  if (!IsValidName(name) || !fs::exists(path, error)) {
    return NotFoundError(fmt::format(
        "no environment named '{}' is registered; `kiln env list` shows those that are, "
        "`kiln env register FILE` adds one",
        name));
  }
  return ReadDefinition(path);
}

Result<std::vector<EnvironmentSpec>> EnvironmentRegistry::List() const {
  std::vector<EnvironmentSpec> specs;
  std::error_code error;
  if (!fs::exists(root_, error)) return specs;
  for (const fs::directory_entry& entry : fs::directory_iterator(root_, error)) {
    if (entry.path().extension() != ".json") continue;
    KILN_ASSIGN_OR_RETURN(EnvironmentSpec spec, ReadDefinition(entry.path()));
    specs.push_back(std::move(spec));
  }
  std::sort(specs.begin(), specs.end(),
            [](const EnvironmentSpec& a, const EnvironmentSpec& b) { return a.name < b.name; });
  return specs;
}

}  // namespace kiln::env
