#include "sweep/policy_replay.h"

#include <algorithm>
#include <tuple>

namespace kiln::sweep {

ReplayReport ReplayPolicy(const TerminationPolicy& policy, Goal goal,
                          std::span<const RecordedTrial> trials) {
  constexpr double kMicros = 1e6;
  ReplayReport report;
  // Every point, in the order it was logged (ties: by trial, then interval).
  std::vector<std::tuple<Timestamp, std::size_t, std::size_t>> points;
  for (std::size_t t = 0; t < trials.size(); ++t) {
    const RecordedTrial& trial = trials[t];
    ReplayedTrial replayed;
    replayed.id = trial.id;
    if (!trial.values.empty()) {
      replayed.best = BestUpTo(trial.values, static_cast<int>(trial.values.size()), goal);
    }
    replayed.seconds_run =
        static_cast<double>(std::max<Timestamp>(trial.ended_at - trial.started_at, 0)) / kMicros;
    report.seconds_run += replayed.seconds_run;
    report.trials.push_back(std::move(replayed));
    // A clock stepped back (NTP) must not reorder one trial's own intervals.
    Timestamp latest = 0;
    for (std::size_t i = 0; i < trial.values.size(); ++i) {
      latest = std::max(latest, trial.times[i]);
      points.emplace_back(latest, t, i);
    }
    if (report.trials.back().best && (!report.best || Better(goal, *report.trials.back().best,
                                                             *report.trials[*report.best].best))) {
      report.best = t;
    }
  }
  std::sort(points.begin(), points.end());

  std::vector<Curve> seen(trials.size());
  for (const auto& [at, t, i] : points) {
    ReplayedTrial& replayed = report.trials[t];
    if (replayed.stopped_at) continue;  // stopped: it would have logged nothing more
    seen[t].values.push_back(trials[t].values[i]);
    const int interval = static_cast<int>(i) + 1;
    std::optional<std::string> reason = policy.Judge(seen, t, interval, goal);
    if (!reason) continue;
    replayed.stopped_at = interval;
    replayed.reason = std::move(*reason);
    replayed.seconds_saved =
        static_cast<double>(std::max<Timestamp>(trials[t].ended_at - at, 0)) / kMicros;
    report.seconds_saved += replayed.seconds_saved;
    ++report.stopped;
  }
  report.best_survives = !report.best || !report.trials[*report.best].stopped_at;
  return report;
}

}  // namespace kiln::sweep
