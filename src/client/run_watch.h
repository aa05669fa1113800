#pragma once

// Waiting for runs, and following their logs while they go on.

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>

#include "client/run_log_follower.h"
#include "client/workspace.h"
#include "common/result.h"
#include "launch/log_format.h"
#include "store/records.h"

namespace kiln::client {

struct WaitOptions {
  // Called with each new line of the ranks' logs, in time order, when set.
  std::function<void(const RunLogLine&)> on_log_line;
  // Only this rank's log; every rank's when unset.
  std::optional<int> log_rank;
  // Give up (DeadlineExceeded) after this long; wait forever when unset.
  std::optional<std::chrono::milliseconds> timeout;
  // Asked between polls; an error stops the wait and is returned (an SDK's Ctrl-C).
  std::function<Status()> keep_waiting;
};

// Waits until the run is Completed, Failed or Canceled and returns it. Polls the store
// (reconciling, so a dead launcher ends the wait too), quickly at first and more slowly
// while nothing changes. Log lines are delivered up to the end of the log.
Result<store::Run> WaitForRun(Workspace& workspace, std::string_view run_id,
                              const WaitOptions& options);

}  // namespace kiln::client
