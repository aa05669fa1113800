#pragma once

// Stopping every process of a run, wherever it went.
//
// A run's processes are the launcher's descendants (the launcher is a child subreaper, so
// orphans of the ranks are re-parented to it and stay descendants) and every process that
// carries the run's marker variable (rank_env.h), which also finds those that left the
// launcher's tree or whose launcher is gone. Stopping sends SIGTERM to all of them, waits
// up to the grace period while `tick` runs (the launcher reaps and drains logs there), then
// sends SIGKILL to whatever is left and waits for it to vanish.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string_view>
#include <vector>

namespace kiln::launch {

// Which marked processes a sweep takes: every one on the machine, or only those in this
// process's network namespace (a cluster node's; the test cluster's nodes share one
// machine's process table, and each node stops only its own).
enum class SweepScope { kMachine, kThisNode };

// Processes of the run now: descendants of `root` (0 for none) and marked processes.
std::vector<pid_t> FindRunProcesses(pid_t root, std::string_view marker,
                                    SweepScope scope = SweepScope::kMachine);

struct SweepResult {
  int found = 0;   // processes signalled with SIGTERM
  int killed = 0;  // of those, still alive after the grace period (SIGKILL)
  int left = 0;    // still alive at the end (should be 0)
};

SweepResult StopRunProcesses(pid_t root, std::string_view marker, std::chrono::milliseconds grace,
                             const std::function<void()>& tick,
                             SweepScope scope = SweepScope::kMachine);

}  // namespace kiln::launch
