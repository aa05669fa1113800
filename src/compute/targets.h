#pragma once

// Finding a compute target by the name a job gives in compute_target: "local", built in,
// or one registered in the store (`kiln compute add`).

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/subprocess.h"
#include "compute/compute_target.h"
#include "store/store.h"

namespace kiln::compute {

struct TargetContext {
  std::filesystem::path kiln_program;  // the executable that runs `kiln launch`
  ProcessSpawner* spawner = nullptr;   // RealSpawner() when null
  store::Store* store = nullptr;       // where registered targets are; none when null
  std::filesystem::path local_queue;   // the local target's slot queue (<home>/local-queue)
};

// The types `kiln compute add --type` takes.
std::vector<std::string> TargetTypes();

// NotFound for an unknown name, listing the known ones.
Result<std::unique_ptr<ComputeTarget>> OpenTarget(std::string_view name,
                                                  const TargetContext& context);

// Checks a target to register (its name, its type, its config for that type, and what the
// type can check of its cluster: a Slurm partition that exists) and stores it.
// InvalidArgument naming the flag that is wrong; AlreadyExists for a taken name.
Status RegisterComputeTarget(store::Store& store, const store::ComputeTargetRecord& target,
                             const TargetContext& context);

}  // namespace kiln::compute
