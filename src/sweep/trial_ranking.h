#pragma once

// Ranking a sweep's trials by their primary metric, for `kiln sweep show|best`, the SDK's
// get_children_sorted_by_primary_metric and get_best_run_by_primary_metric: one read of
// the trials (each carries its best value, kept by the driver), never one query per trial.

#include <optional>
#include <vector>

#include "store/records.h"
#include "sweep/objective.h"

namespace kiln::sweep {

struct RankOptions {
  bool include_failed = true;
  bool include_canceled = true;  // early-stopped trials are Canceled
  bool discard_no_metric = false;
};

// Best first by `goal`; trials without a value last; ties by index.
std::vector<store::Trial> RankTrials(std::vector<store::Trial> trials, Goal goal,
                                     const RankOptions& options = {});

// The first of RankTrials that has a value; nullopt when none has.
std::optional<store::Trial> BestTrial(std::vector<store::Trial> trials, Goal goal,
                                      const RankOptions& options = {});

}  // namespace kiln::sweep
