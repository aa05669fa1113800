#pragma once

#include <chrono>
#include <string_view>

#include "client/workspace.h"
#include "common/result.h"
#include "store/records.h"

namespace kiln::client {

// Asks the run to stop (CancelRequested) and waits up to `wait` for it to end; the launcher
// stops every process of the run and records Canceled. FailedPrecondition when the run has
// ended already or is finalizing. Returns the run as it is when the wait ends.
// With a server, the server tells the compute target (it runs the same code).
Result<store::Run> CancelRun(Workspace& workspace, std::string_view run_id,
                             std::chrono::milliseconds wait);

// Tells the run's compute target that a cancel was recorded (a Slurm target calls scancel).
Status TellTargetOfCancel(Workspace& workspace, const store::Run& run);

}  // namespace kiln::client
