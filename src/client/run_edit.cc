#include "client/run_edit.h"

#include <fmt/format.h>

#include "spec/run_labels.h"

namespace kiln::client {

Status CheckRunEdit(const store::RunEdit& edit) {
  if (edit.empty()) {
    return InvalidArgumentError(
        "the edit changes nothing: give a display name, a description, tags to set or remove, "
        "or archived");
  }
  if (edit.display_name) {
    if (std::optional<std::string> problem = spec::DisplayNameProblem(*edit.display_name)) {
      return InvalidArgumentError(fmt::format("display_name: {}", *problem));
    }
  }
  if (edit.description) {
    if (std::optional<std::string> problem = spec::DescriptionProblem(*edit.description)) {
      return InvalidArgumentError(fmt::format("description: {}", *problem));
    }
  }
  for (const auto& [key, value] : edit.set_tags) {
    if (std::optional<std::string> problem = spec::TagKeyProblem(key)) {
      return InvalidArgumentError(fmt::format("tags: {}", *problem));
    }
    if (std::optional<std::string> problem = spec::TagValueProblem(value)) {
      return InvalidArgumentError(fmt::format("tags: {}: {}", key, *problem));
    }
  }
  for (const std::string& key : edit.remove_tags) {
    if (std::optional<std::string> problem = spec::TagKeyProblem(key)) {
      return InvalidArgumentError(fmt::format("remove_tags: {}", *problem));
    }
    if (edit.set_tags.contains(key)) {
      return InvalidArgumentError(
          fmt::format("tag '{}' is both set and removed; give it once", key));
    }
  }
  return Status::Ok();
}

Result<store::Run> EditRun(Workspace& workspace, std::string_view run_id,
                           const store::RunEdit& edit) {
  KILN_RETURN_IF_ERROR(CheckRunEdit(edit));
  return workspace.store().EditRun(run_id, edit);
}

}  // namespace kiln::client
