#include "common/process_table.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>

#include "common/files.h"
#include "common/strings.h"

namespace kiln {
namespace {

struct ProcStat {
  pid_t ppid = 0;
  char state = '?';
  std::uint64_t start_ticks = 0;
};

// Parses /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses, so
// fields are counted from the last ')'.
std::optional<ProcStat> ReadProcStat(pid_t pid) {
  const auto contents = ReadFileToString("/proc/" + std::to_string(pid) + "/stat");
  if (!contents.ok()) return std::nullopt;
  const std::string& text = *contents;
  const std::size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return std::nullopt;
  const std::vector<std::string> fields = SplitString(text.substr(close + 2), ' ');
  // After ')': state(3) ppid(4) ... starttime(22), i.e. indexes 0, 1 and 19 here.
  constexpr std::size_t kStateIndex = 0;
  constexpr std::size_t kPpidIndex = 1;
  constexpr std::size_t kStartTimeIndex = 19;
  if (fields.size() <= kStartTimeIndex) return std::nullopt;
  ProcStat stat;
  stat.state = fields[kStateIndex].empty() ? '?' : fields[kStateIndex][0];
  stat.ppid = static_cast<pid_t>(std::strtol(fields[kPpidIndex].c_str(), nullptr, 10));
  stat.start_ticks = std::strtoull(fields[kStartTimeIndex].c_str(), nullptr, 10);
  return stat;
}

std::vector<pid_t> AllPids() {
  std::vector<pid_t> pids;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return pids;
  while (const dirent* entry = ::readdir(dir)) {
    const std::optional<std::int64_t> pid = ParseInt64(entry->d_name);
    if (pid && *pid > 0) pids.push_back(static_cast<pid_t>(*pid));
  }
  ::closedir(dir);
  return pids;
}

bool IsZombieState(char state) { return state == 'Z' || state == 'X'; }

}  // namespace

std::vector<pid_t> FindDescendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;  // ppid -> pid
  for (pid_t pid : AllPids()) {
    const std::optional<ProcStat> stat = ReadProcStat(pid);
    if (stat && !IsZombieState(stat->state)) children.emplace(stat->ppid, pid);
  }
  std::vector<pid_t> found;
  std::vector<pid_t> frontier = {root};
  while (!frontier.empty()) {
    const pid_t parent = frontier.back();
    frontier.pop_back();
    const auto [begin, end] = children.equal_range(parent);
    for (auto it = begin; it != end; ++it) {
      found.push_back(it->second);
      frontier.push_back(it->second);
    }
  }
  return found;
}

std::vector<pid_t> FindProcessesWithEnvironment(std::string_view entry) {
  std::vector<pid_t> found;
  for (pid_t pid : AllPids()) {
    const auto environ = ReadFileToString("/proc/" + std::to_string(pid) + "/environ");
    if (!environ.ok()) continue;
    std::string_view rest = *environ;
    bool match = false;
    while (!rest.empty() && !match) {
      const std::size_t end = rest.find('\0');
      match = rest.substr(0, end) == entry;
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
    if (match && ProcessIsLive(pid)) found.push_back(pid);
  }
  return found;
}

std::optional<std::uint64_t> ProcessStartTicks(pid_t pid) {
  const std::optional<ProcStat> stat = ReadProcStat(pid);
  if (!stat) return std::nullopt;
  return stat->start_ticks;
}

bool ProcessIsLive(pid_t pid) {
  const std::optional<ProcStat> stat = ReadProcStat(pid);
  return stat && !IsZombieState(stat->state);
}

}  // namespace kiln
