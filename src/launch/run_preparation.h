#pragma once

// Preparing a run (the launcher's step 2): everything its ranks need before they start.
//   1. The snapshot materialized into src/ (unless submit staged it there already).
//   2. src/outputs linked to the run's outputs/.
//   3. Download-mode datastores copied (data/resolver.h).
//   4. The job's Python environment built, or found built (env/environment_cache.h), with
//      its lines in logs/environment.log in the ranks' log format.
// `canceled` is asked between the steps (and during a build): once it says true, the
// preparation stops early and returns Ok; the caller sees the cancel itself.

#include <functional>
#include <optional>

#include "common/result.h"
#include "common/time.h"
#include "env/environment_cache.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"

namespace kiln::launch {

// `environment` receives the job's environment, held in use (a prune leaves it alone) for
// as long as the caller keeps it.
Status PrepareRun(const RunPlan& plan, const RunDir& dir, const Clock& clock,
                  const std::function<bool()>& canceled,
                  std::optional<env::ReadyEnvironment>& environment);

}  // namespace kiln::launch
