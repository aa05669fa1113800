#pragma once

// Starting a sweep trial's rank before its turn (docs/sweeps.md, "Warm start"). While the
// launcher waits in the local queue it prepares the run and starts the one rank as
//   python <python_path>/kiln/_warm_start.py SCRIPT ARGS...
// with the rank's whole environment and one end of a socket pair in KILN_WARM_FD. The
// bootstrap imports the script's modules, then blocks on that socket; when the run's turn
// comes the launcher sends one byte (OpenGate) and the script runs as `python SCRIPT ARGS`
// would. Closing the launcher's end without the byte (a cancel, the launcher's death) makes
// the bootstrap exit without running the script.

#include <filesystem>

#include "common/result.h"
#include "common/unique_fd.h"
#include "launch/rank_starts.h"
#include "launch/run_plan.h"

namespace kiln::launch {

// The bootstrap in Kiln's Python package under `python_path`; empty when it is not there.
std::filesystem::path WarmBootstrap(const std::filesystem::path& python_path);

// Whether `plan` starts warm with `bootstrap`: it asks to, and its one rank is a Python
// script the launcher starts itself.
bool CanStartWarm(const RunPlan& plan, const std::filesystem::path& bootstrap);

// The launcher's end of a warm rank's gate, and the end the rank inherits.
struct WarmGate {
  UniqueFd launcher;
  UniqueFd rank;  // close once the rank is started
};

// Rewrites `start` (the rank's interpreter and script, argv[0] and argv[1]) to run under
// `bootstrap`, gated. FailedPrecondition when `start` is not an interpreter and a script.
Result<WarmGate> MakeWarm(ProcessStart& start, const std::filesystem::path& bootstrap,
                          const WarmStartPlan& warm);

// Lets the rank run its script. FailedPrecondition when the rank is gone already.
Status OpenGate(UniqueFd& launcher_end);

}  // namespace kiln::launch
