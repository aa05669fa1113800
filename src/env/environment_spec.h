#pragma once

// EnvironmentSpec: the Python environment a job's ranks run in, beyond the base interpreter
// (docs/environments.md). Its identity is the hash of what a build depends on: the base
// interpreter (its real path), the package lists in order, the pip sources, and whether the
// base's site-packages stay visible. The name and environment_variables do not change what
// is built, so they are not part of it: renaming an environment or changing a variable
// reuses the build.

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace kiln::env {

inline constexpr std::string_view kDefaultPython = "/usr/bin/python3";

struct EnvironmentSpec {
  std::string name;                                  // for people; may be empty
  std::string python = std::string(kDefaultPython);  // the base interpreter, absolute
  std::vector<std::string> pip_packages;             // requirement specifiers, as pip takes them
  std::vector<std::string> conda_packages;           // needs conda, mamba or micromamba on PATH
  // pip's --index-url; empty: pip's own default, unless find-links are given, which are then
  // the only source (--no-index), as for an offline wheelhouse.
  std::string pip_index_url;
  std::vector<std::string> pip_find_links;  // folders (absolute) or URLs
  std::vector<std::pair<std::string, std::string>> environment_variables;  // set for the ranks
  bool system_site_packages = true;  // the base's packages (the system's torch) stay visible

  // Whether there is anything to build: false for a spec that only names the interpreter.
  bool NeedsBuild() const { return !pip_packages.empty() || !conda_packages.empty(); }

  friend bool operator==(const EnvironmentSpec&, const EnvironmentSpec&) = default;
};

nlohmann::json EnvironmentToJson(const EnvironmentSpec& spec);
Result<EnvironmentSpec> EnvironmentFromJson(const nlohmann::json& json);

// 64 hex digits over the canonical form of what a build depends on (see the top).
std::string EnvironmentHash(const EnvironmentSpec& spec);

}  // namespace kiln::env
