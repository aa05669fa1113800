#include "spec/spec_source.h"

#include <fmt/format.h>

namespace kiln::spec {

std::string SpecSource::Where(std::string_view field) const {
  if (flag_fields_.contains(std::string(field)) || file_label_.empty()) {
    return FlagForField(field);
  }
  return fmt::format("{}: {}", file_label_, field);
}

std::string SpecSource::WhereParam(std::string_view param_name) const {
  if (flag_params_.contains(std::string(param_name)) || file_label_.empty()) {
    return fmt::format("--script-param {}", param_name);
  }
  return fmt::format("{}: script_params: {}", file_label_, param_name);
}

std::string SpecSource::FilePrefix() const { return file_label_.empty() ? "" : file_label_ + ": "; }

std::string SpecSource::AsGiven(const std::string& resolved) const {
  auto it = given_paths_.find(resolved);
  return it == given_paths_.end() ? resolved : it->second;
}

std::string FlagForField(std::string_view field) {
  if (field == "script_params") return "--script-param";
  if (field == "conda_packages") return "--conda-package";
  if (field == "pip_packages") return "--pip-package";
  if (field == "tags") return "--tag";
  if (field == "environment_variables") return "--env";
  std::string flag = "--";
  for (char c : field) flag += c == '_' ? '-' : c;
  return flag;
}

}  // namespace kiln::spec
