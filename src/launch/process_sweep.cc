#include "launch/process_sweep.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <thread>

#include "common/process_table.h"

namespace kiln::launch {

namespace {
constexpr std::chrono::milliseconds kPollInterval{20};
constexpr std::chrono::milliseconds kKillWait{5000};

// Waits until no process of the run is left or `limit` passes; returns what is left.
std::vector<pid_t> WaitGone(pid_t root, std::string_view marker, std::chrono::milliseconds limit,
                            const std::function<void()>& tick, SweepScope scope) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    if (tick) tick();
    std::vector<pid_t> left = FindRunProcesses(root, marker, scope);
    if (left.empty() || std::chrono::steady_clock::now() >= deadline) return left;
    std::this_thread::sleep_for(kPollInterval);
  }
}
// The inode of a process's network namespace; 0 when it cannot be read (a process gone).
ino_t NetworkNamespace(const std::string& pid) {
  struct stat info {};
  return ::stat(("/proc/" + pid + "/ns/net").c_str(), &info) == 0 ? info.st_ino : 0;
}

}  // namespace

std::vector<pid_t> FindRunProcesses(pid_t root, std::string_view marker, SweepScope scope) {
  std::vector<pid_t> found = root > 0 ? FindDescendants(root) : std::vector<pid_t>();
  const ino_t node = scope == SweepScope::kThisNode ? NetworkNamespace("self") : 0;
  for (pid_t pid : FindProcessesWithEnvironment(marker)) {
    if (node != 0 && NetworkNamespace(std::to_string(pid)) != node) continue;
    if (pid != root && std::find(found.begin(), found.end(), pid) == found.end()) {
      found.push_back(pid);
    }
  }
  return found;
}

SweepResult StopRunProcesses(pid_t root, std::string_view marker, std::chrono::milliseconds grace,
                             const std::function<void()>& tick, SweepScope scope) {
  SweepResult result;
  const std::vector<pid_t> first = FindRunProcesses(root, marker, scope);
  result.found = static_cast<int>(first.size());
  for (pid_t pid : first) ::kill(pid, SIGTERM);
  std::vector<pid_t> left = first.empty() ? first : WaitGone(root, marker, grace, tick, scope);
  // New processes may have started meanwhile (a script spawning on SIGTERM): they get the
  // same treatment, without a second grace period.
  while (!left.empty()) {
    result.killed += static_cast<int>(left.size());
    for (pid_t pid : left) ::kill(pid, SIGKILL);
    const std::vector<pid_t> still = WaitGone(root, marker, kKillWait, tick, scope);
    if (still == left) break;  // Unkillable (stuck in the kernel): report, do not spin.
    left = still;
  }
  if (tick) tick();
  result.left = static_cast<int>(FindRunProcesses(root, marker, scope).size());
  return result;
}

}  // namespace kiln::launch
