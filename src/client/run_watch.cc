#include "client/run_watch.h"

#include <fmt/format.h>

#include <thread>

#include "client/reconcile.h"
#include "launch/run_dir.h"

namespace kiln::client {

namespace {
// Short runs are polled often so their end is seen at once; long ones ever more slowly,
// but never slower than kActivePoll while their log is moving.
constexpr std::chrono::milliseconds kFastPhase{2000};
constexpr std::chrono::milliseconds kFastPoll{10};
constexpr std::chrono::milliseconds kActivePoll{50};
constexpr std::chrono::milliseconds kSlowestPoll{500};
}  // namespace

Result<store::Run> WaitForRun(Workspace& workspace, std::string_view run_id,
                              const WaitOptions& options) {
  KILN_ASSIGN_OR_RETURN(store::Run run, workspace.store().GetRun(run_id));
  RunLogFollower follower(workspace.files(), run, options.log_rank);
  const auto started = std::chrono::steady_clock::now();
  // Only consulted when there is a timeout.
  const auto deadline = started + options.timeout.value_or(std::chrono::milliseconds(0));
  std::chrono::milliseconds pause = kFastPoll;
  while (true) {
    KILN_ASSIGN_OR_RETURN(run, ReadRun(workspace, run_id));
    bool progressed = false;
    // A page at a time, so a long log never sits in memory whole.
    while (options.on_log_line) {
      KILN_ASSIGN_OR_RETURN(const std::vector<RunLogLine> lines, follower.ReadNew());
      for (const RunLogLine& line : lines) options.on_log_line(line);
      progressed = progressed || !lines.empty();
      if (!follower.more()) break;
    }
    // The status is read before the log, so every line written before the end is shown.
    if (store::IsTerminal(run.status)) return run;
    if (options.timeout && std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceededError(fmt::format("run {} is still {} after {} ms", run_id,
                                               store::RunStatusName(run.status),
                                               options.timeout->count()));
    }
    if (std::chrono::steady_clock::now() - started < kFastPhase) {
      pause = kFastPoll;
    } else {
      pause = progressed ? kActivePoll : std::min(pause * 2, kSlowestPoll);
    }
    if (options.keep_waiting) KILN_RETURN_IF_ERROR(options.keep_waiting());
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace kiln::client
