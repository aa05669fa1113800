#pragma once

#include <optional>
#include <string_view>

namespace kiln::store {

// What a run is: a job (a training script's run, also a sweep's trial) or a sweep (a parent
// run whose trials are jobs; docs/sweeps.md).
enum class RunKind { kJob, kSweep };

// "job", "sweep".
std::string_view RunKindName(RunKind kind);
std::optional<RunKind> ParseRunKind(std::string_view name);

}  // namespace kiln::store
