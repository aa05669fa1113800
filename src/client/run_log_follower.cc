#include "client/run_log_follower.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "spec/spec_json.h"

namespace kiln::client {

int RunWorldSize(const store::Run& run) {
  const nlohmann::json json = nlohmann::json::parse(run.spec_json, nullptr, false);
  if (json.is_discarded()) return 1;
  const Result<spec::JobSpec> spec = spec::SpecFromJson(json);
  return spec.ok() ? spec->world_size() : 1;
}

RunLogFollower::RunLogFollower(RunFiles& files, const store::Run& run, std::optional<int> rank)
    : files_(files), run_(run), world_size_(RunWorldSize(run)) {
  // A log that does not exist yet (its rank has not started) reads as empty until it does.
  // Following the whole run includes its environment's build, which comes before any rank.
  for (int each = rank.value_or(kEnvironmentLog); each < (rank ? *rank + 1 : world_size_); ++each) {
    followers_.emplace(each, FollowerAt(each, 0));
  }
}

LogFollower RunLogFollower::FollowerAt(int rank, std::uint64_t offset) {
  return LogFollower(
      [this, rank](std::uint64_t from, std::size_t max_bytes) {
        return files_.ReadLog(run_, rank, from, max_bytes);
      },
      offset);
}

Status RunLogFollower::Seek(std::string_view cursor) {
  const std::vector<std::string> parts = SplitString(cursor, '-');
  const auto invalid = [&] {
    return InvalidArgumentError(fmt::format(
        "log cursor '{}' does not fit run {}: use the next_cursor of an earlier page of the "
        "same run and rank",
        cursor, run_.id));
  };
  if (parts.size() != followers_.size()) return invalid();
  std::vector<std::uint64_t> offsets;
  for (const std::string& part : parts) {
    const std::optional<std::int64_t> offset = ParseInt64(part);
    if (!offset || *offset < 0 || part.starts_with('+')) return invalid();
    offsets.push_back(static_cast<std::uint64_t>(*offset));
  }
  std::size_t i = 0;
  for (auto& [rank, follower] : followers_) follower = FollowerAt(rank, offsets[i++]);
  more_ = false;
  return Status::Ok();
}

std::string RunLogFollower::cursor() const {
  std::vector<std::string> parts;
  for (const auto& [rank, follower] : followers_)
    parts.push_back(std::to_string(follower.offset()));
  return JoinStrings(parts, "-");
}

// Each log is in time order already, so a k-way merge of their next lines gives the run's
// order a line at a time, with only one read-ahead line (and buffer) per log in memory.
Result<std::vector<RunLogLine>> RunLogFollower::ReadNew(std::size_t max_lines) {
  std::vector<RunLogLine> lines;
  std::size_t bytes = 0;
  more_ = false;
  while (true) {
    int best_rank = 0;
    LogFollower* best = nullptr;
    const launch::LogLine* best_line = nullptr;
    for (auto& [rank, follower] : followers_) {
      KILN_ASSIGN_OR_RETURN(const launch::LogLine* line, follower.Peek());
      // Ties go to the lower rank: the map is ordered by rank and only an earlier time wins.
      if (line != nullptr && (best_line == nullptr || line->at < best_line->at)) {
        best_rank = rank;
        best = &follower;
        best_line = line;
      }
    }
    if (best == nullptr) break;
    if (lines.size() >= max_lines || bytes >= kLogPageBytes) {
      more_ = true;
      break;
    }
    launch::LogLine line = best->Pop();
    std::string display = best_rank == kEnvironmentLog ? fmt::format("[environment] {}", line.text)
                          : world_size_ > 1 ? fmt::format("[rank {}] {}", best_rank, line.text)
                                            : line.text;
    bytes += line.text.size();
    lines.push_back({best_rank, std::move(line), std::move(display)});
  }
  return lines;
}

}  // namespace kiln::client
