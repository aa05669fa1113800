#include "compute/targets.h"

#include <fmt/format.h>

#include "common/strings.h"
#include "compute/local/local_target.h"

namespace kiln::compute {

std::vector<std::string> TargetNames() { return {std::string(LocalTarget::kName)}; }

Result<std::unique_ptr<ComputeTarget>> OpenTarget(std::string_view name,
                                                  const TargetContext& context) {
  ProcessSpawner& spawner = context.spawner != nullptr ? *context.spawner : RealSpawner();
  if (name == LocalTarget::kName) {
    return std::unique_ptr<ComputeTarget>(
        std::make_unique<LocalTarget>(context.kiln_program, spawner));
  }
  const std::vector<std::string> names = TargetNames();
  return NotFoundError(fmt::format("unknown compute target '{}'; the targets are: {}", name,
                                   JoinStrings(names, ", ")));
}

}  // namespace kiln::compute
