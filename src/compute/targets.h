#pragma once

// Finding a compute target by the name a job gives in compute_target.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/subprocess.h"
#include "compute/compute_target.h"

namespace kiln::compute {

struct TargetContext {
  std::filesystem::path kiln_program;  // the executable that runs `kiln launch`
  ProcessSpawner* spawner = nullptr;   // RealSpawner() when null
};

// Names of every target a job may use.
std::vector<std::string> TargetNames();

// NotFound for an unknown name, listing the known ones.
Result<std::unique_ptr<ComputeTarget>> OpenTarget(std::string_view name,
                                                  const TargetContext& context);

}  // namespace kiln::compute
