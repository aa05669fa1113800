#pragma once

// RunLogFollower follows the logs of a run's ranks (logs/rank-N.log) as they grow and hands
// back their new lines merged in time order. A rank that has not started yet has no log and
// reads as empty until it does. In a run of several ranks each line is shown as
// "[rank N] text". Following every rank includes the build of the run's environment
// (logs/environment.log), its lines shown as "[environment] text".

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/log_follower.h"
#include "client/run_files.h"
#include "common/result.h"
#include "launch/log_format.h"
#include "store/records.h"

namespace kiln::client {

struct RunLogLine {
  int rank = 0;
  launch::LogLine line;
  // The text as people read it: "[rank N] text" in a run of several ranks, else the text.
  std::string display;
};

class RunLogFollower {
 public:
  // Follows every rank of `run`, or only `rank` when set, reading through `files`.
  RunLogFollower(RunFiles& files, const store::Run& run, std::optional<int> rank);

  // Lines added since the last call, ordered by time (then rank).
  Result<std::vector<RunLogLine>> ReadNew();

 private:
  int world_size_ = 1;
  std::map<int, LogFollower> followers_;
};

// The number of ranks a run has (1 when its stored spec cannot be read).
int RunWorldSize(const store::Run& run);

}  // namespace kiln::client
