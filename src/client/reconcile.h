#pragma once

// Reconciling the store with reality: a run whose launcher died (kill -9, a crash, a reboot)
// would stay Running forever, so every read of runs first asks each unfinished run's
// compute target whether its launcher lives. When it does not, whatever the run left
// running is stopped (process_sweep.h), what the ranks logged that the launcher had not
// stored yet is ingested from their metric spools, and the run becomes Failed with that
// reason (Canceled when a cancel had been asked for).

#include <string_view>
#include <vector>

#include "client/workspace.h"
#include "common/result.h"
#include "store/records.h"

namespace kiln::client {

// How the failure reason of a run whose launcher was gone while it was Queued ends: the
// run never started (a sweep does not count such a trial, sweep/sweep_driver.h).
inline constexpr std::string_view kStoppedBeforeStart = "stopped before the run started";

// Returns the run as it is after reconciling.
Result<store::Run> Reconcile(Workspace& workspace, const store::Run& run);

// GetRun / ListRuns with every unfinished run reconciled first.
Result<store::Run> ReadRun(Workspace& workspace, std::string_view id);
Result<std::vector<store::Run>> ReadRuns(Workspace& workspace, const store::RunFilter& filter);

}  // namespace kiln::client
