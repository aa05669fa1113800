#pragma once

// RunLogFollower follows the logs of a run's ranks (logs/rank-N.log) as they grow and hands
// back their new lines merged in time order. A rank that has not started yet has no log and
// reads as empty until it does. In a run of several ranks each line is shown as
// "[rank N] text". Following every rank includes the build of the run's environment
// (logs/environment.log), its lines shown as "[environment] text".
//
// Lines come a page at a time (ReadNew's limit, and about kLogPageBytes of text), so a log
// of any size is read in bounded memory; more() says whether another page is waiting. A
// cursor() names where the follower is, so a later follower (another request) can go on
// from there with Seek().

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/log_follower.h"
#include "client/run_files.h"
#include "common/result.h"
#include "launch/log_format.h"
#include "store/records.h"

namespace kiln::client {

// ReadNew's default page, and the most text one page holds (at least one line whatever its
// size).
inline constexpr std::size_t kLogPageLines = 1000;
inline constexpr std::size_t kLogPageBytes = 4u << 20;

struct RunLogLine {
  int rank = 0;
  launch::LogLine line;
  // The text as people read it: "[rank N] text" in a run of several ranks, else the text.
  std::string display;
};

class RunLogFollower {
 public:
  // Follows every rank of `run`, or only `rank` when set, reading through `files`, which
  // must outlive the follower.
  RunLogFollower(RunFiles& files, const store::Run& run, std::optional<int> rank);
  // Its readers point back at it.
  RunLogFollower(const RunLogFollower&) = delete;
  RunLogFollower& operator=(const RunLogFollower&) = delete;

  // Goes on from `cursor`, the cursor() of a follower of the same run and rank choice.
  // InvalidArgument, naming the cursor, when it is not one.
  Status Seek(std::string_view cursor);

  // Up to `max_lines` (>= 1) lines added since the last call, ordered by time (then rank).
  Result<std::vector<RunLogLine>> ReadNew(std::size_t max_lines = kLogPageLines);
  // True when the last ReadNew stopped at its limit while more lines were already there.
  bool more() const { return more_; }

  // Where the follower is: the byte offset reached in each log it follows, joined by "-"
  // (environment log first when following the whole run, then rank 0, 1, ...).
  std::string cursor() const;

 private:
  LogFollower FollowerAt(int rank, std::uint64_t offset);

  RunFiles& files_;
  store::Run run_;
  int world_size_ = 1;
  std::map<int, LogFollower> followers_;
  bool more_ = false;
};

// The number of ranks a run has (1 when its stored spec cannot be read).
int RunWorldSize(const store::Run& run);

}  // namespace kiln::client
