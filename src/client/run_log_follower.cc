#include "client/run_log_follower.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "spec/spec_json.h"

namespace kiln::client {

int RunWorldSize(const store::Run& run) {
  const nlohmann::json json = nlohmann::json::parse(run.spec_json, nullptr, false);
  if (json.is_discarded()) return 1;
  const Result<spec::JobSpec> spec = spec::SpecFromJson(json);
  return spec.ok() ? spec->world_size() : 1;
}

RunLogFollower::RunLogFollower(RunFiles& files, const store::Run& run, std::optional<int> rank)
    : world_size_(RunWorldSize(run)) {
  // A log that does not exist yet (its rank has not started) reads as empty until it does.
  // Following the whole run includes its environment's build, which comes before any rank.
  for (int each = rank.value_or(kEnvironmentLog); each < (rank ? *rank + 1 : world_size_);
       ++each) {
    followers_.emplace(each, LogFollower([&files, run, each](std::uint64_t offset,
                                                            std::size_t max_bytes) {
                         return files.ReadLog(run, each, offset, max_bytes);
                       }));
  }
}

Result<std::vector<RunLogLine>> RunLogFollower::ReadNew() {
  std::vector<RunLogLine> lines;
  for (auto& [rank, follower] : followers_) {
    KILN_ASSIGN_OR_RETURN(std::vector<launch::LogLine> read, follower.ReadNew());
    for (launch::LogLine& line : read) {
      std::string display = rank == kEnvironmentLog ? fmt::format("[environment] {}", line.text)
                            : world_size_ > 1       ? fmt::format("[rank {}] {}", rank, line.text)
                                                    : line.text;
      lines.push_back({rank, std::move(line), std::move(display)});
    }
  }
  std::stable_sort(lines.begin(), lines.end(), [](const RunLogLine& a, const RunLogLine& b) {
    return a.line.at != b.line.at ? a.line.at < b.line.at : a.rank < b.rank;
  });
  return lines;
}

}  // namespace kiln::client
