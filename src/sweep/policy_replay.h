#pragma once

// Replaying an early-termination policy on a finished sweep's recorded curves: which
// trials it would have stopped, at which interval and why, the compute that would have
// saved, and whether the best trial would have survived (`kiln sweep replay`).
//
// The recorded points of every trial are fed to the policy in the order they were logged,
// one interval at a time, as the driver judges them; a trial the replayed policy stops
// logs nothing after that point, so the others are judged against what would have been
// there. What the replay cannot know: trials that a freed slot would have started sooner,
// or points a stopped trial would have logged differently.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/time.h"
#include "sweep/objective.h"
#include "sweep/termination_policy.h"

namespace kiln::sweep {

struct RecordedTrial {
  std::string id;
  std::vector<double> values;    // the primary metric, in logging order
  std::vector<Timestamp> times;  // when each value was logged
  Timestamp started_at = 0;
  Timestamp ended_at = 0;
};

struct ReplayedTrial {
  std::string id;
  std::optional<double> best;     // over every recorded value
  std::optional<int> stopped_at;  // the interval the replayed policy stops it at
  std::string reason;
  double seconds_run = 0;    // as recorded
  double seconds_saved = 0;  // from the stopping point to its recorded end
};

struct ReplayReport {
  std::vector<ReplayedTrial> trials;  // in the order given
  int stopped = 0;
  double seconds_run = 0;
  double seconds_saved = 0;
  std::optional<std::size_t> best;  // the index of the recorded best trial
  bool best_survives = true;
};

ReplayReport ReplayPolicy(const TerminationPolicy& policy, Goal goal,
                          std::span<const RecordedTrial> trials);

}  // namespace kiln::sweep
