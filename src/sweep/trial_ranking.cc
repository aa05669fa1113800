#include "sweep/trial_ranking.h"

#include <algorithm>

namespace kiln::sweep {

std::vector<store::Trial> RankTrials(std::vector<store::Trial> trials, Goal goal,
                                     const RankOptions& options) {
  std::erase_if(trials, [&](const store::Trial& trial) {
    return (!options.include_failed && trial.status == store::RunStatus::kFailed) ||
           (!options.include_canceled && trial.status == store::RunStatus::kCanceled) ||
           (options.discard_no_metric && !trial.best);
  });
  std::stable_sort(trials.begin(), trials.end(),
                   [goal](const store::Trial& a, const store::Trial& b) {
                     if (a.best.has_value() != b.best.has_value()) return a.best.has_value();
                     if (a.best && *a.best != *b.best) return Better(goal, *a.best, *b.best);
                     return a.index < b.index;
                   });
  return trials;
}

std::optional<store::Trial> BestTrial(std::vector<store::Trial> trials, Goal goal,
                                      const RankOptions& options) {
  std::vector<store::Trial> ranked = RankTrials(std::move(trials), goal, options);
  if (ranked.empty() || !ranked.front().best) return std::nullopt;
  return ranked.front();
}

}  // namespace kiln::sweep
