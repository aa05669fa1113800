#include "env/environment_spec.h"

#include <fmt/format.h>

#include <filesystem>

#include "common/sha256.h"

namespace kiln::env {

// Bumped when the way environments are built changes, so old builds are not reused.
constexpr int kBuildFormat = 1;

nlohmann::json EnvironmentToJson(const EnvironmentSpec& spec) {
  nlohmann::json variables = nlohmann::json::array();
  for (const auto& [name, value] : spec.environment_variables) variables.push_back({name, value});
  return {{"name", spec.name},
          {"python", spec.python},
          {"pip_packages", spec.pip_packages},
          {"conda_packages", spec.conda_packages},
          {"pip_index_url", spec.pip_index_url},
          {"pip_find_links", spec.pip_find_links},
          {"environment_variables", variables},
          {"system_site_packages", spec.system_site_packages}};
}

Result<EnvironmentSpec> EnvironmentFromJson(const nlohmann::json& json) {
  try {
    EnvironmentSpec spec;
    spec.name = json.at("name").get<std::string>();
    spec.python = json.at("python").get<std::string>();
    spec.pip_packages = json.at("pip_packages").get<std::vector<std::string>>();
    spec.conda_packages = json.at("conda_packages").get<std::vector<std::string>>();
    spec.pip_index_url = json.at("pip_index_url").get<std::string>();
    spec.pip_find_links = json.at("pip_find_links").get<std::vector<std::string>>();
    for (const auto& pair : json.at("environment_variables")) {
      spec.environment_variables.emplace_back(pair.at(0).get<std::string>(),
                                              pair.at(1).get<std::string>());
    }
    spec.system_site_packages = json.at("system_site_packages").get<bool>();
    return spec;
  } catch (const nlohmann::json::exception& error) {
    return DataLossError(fmt::format("an environment definition is malformed: {}", error.what()));
  }
}

std::string EnvironmentHash(const EnvironmentSpec& spec) {
  std::error_code error;
  const std::filesystem::path real = std::filesystem::canonical(spec.python, error);
  const nlohmann::json identity = {{"format", kBuildFormat},
                                   {"python", error ? spec.python : real.string()},
                                   {"pip_packages", spec.pip_packages},
                                   {"conda_packages", spec.conda_packages},
                                   {"pip_index_url", spec.pip_index_url},
                                   {"pip_find_links", spec.pip_find_links},
                                   {"system_site_packages", spec.system_site_packages}};
  return Sha256::HexOf(identity.dump());
}

}  // namespace kiln::env
