#pragma once

// Reads the kernel's process table (/proc) to find the processes that belong to a run.
//
// Two ways to find them, because a process can leave either one:
//   - by descent: every process whose parent chain leads to a given pid;
//   - by environment: every process started with a given NAME=value in its environment
//     (ranks and all they start inherit KILN_RUN_ID, even after they change process
//     group or session).
// Results are a snapshot: processes may start or end right after the scan.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace kiln {

// Live processes (zombies excluded) descended from `root`, not including `root` itself.
std::vector<pid_t> FindDescendants(pid_t root);

// Live processes (zombies excluded) whose initial environment holds exactly `entry`
// ("KILN_RUN_ID=abc"). Processes this user may not inspect are skipped.
std::vector<pid_t> FindProcessesWithEnvironment(std::string_view entry);

// The process's start time in clock ticks since boot; nullopt when it does not exist.
// Together with the pid it names one process across pid reuse.
std::optional<std::uint64_t> ProcessStartTicks(pid_t pid);

// True when the process exists and is not a zombie.
bool ProcessIsLive(pid_t pid);

}  // namespace kiln
