#pragma once

// The runtime's settings from Horovod's variables, so a job tuned for Horovod keeps its
// tuning: HOROVOD_FUSION_THRESHOLD (bytes, default 128 MiB), HOROVOD_CYCLE_TIME (ms,
// default 1; fractions allowed), HOROVOD_CACHE_CAPACITY (default 1024; 0 disables the
// response cache), HOROVOD_STALL_CHECK_TIME_SECONDS (default 60),
// HOROVOD_STALL_CHECK_DISABLE (1 disables it), HOROVOD_TIMELINE (a file); and Kiln's own
// KILN_HVD_SPIN_MICROSECONDS (default 100; RuntimeOptions::spin).

#include <map>
#include <string>

#include "collective/runtime.h"
#include "common/result.h"

namespace kiln::collective {

// `env` maps names to values (the process environment in production, a map in tests).
Result<RuntimeOptions> ReadRuntimeOptions(const std::map<std::string, std::string>& env);

// Rank and sizes from Kiln's launcher / torch.distributed variables (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK), HOROVOD_RANK etc. winning; a single process
// when none is set.
Result<Topology> ReadTopology(const std::map<std::string, std::string>& env);

std::map<std::string, std::string> ProcessEnvironment();

}  // namespace kiln::collective
