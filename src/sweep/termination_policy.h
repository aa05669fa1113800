#pragma once

// TerminationPolicy: early termination of a sweep's weak trials, judged on the primary
// metric as it is ingested (docs/sweeps.md gives each rule with an example).
//
// An interval is one logged value of the primary metric: the i-th value a trial logs is
// interval i, whatever step it was logged with, as in HyperDrive. A trial's curve is its
// values in logging order (rank 0's).
//
// Policies, with HyperDrive's parameters and rules, and ASHA:
//   BanditPolicy(evaluation_interval, slack_factor | slack_amount, delay_evaluation)
//     stop when the trial's best so far is worse than the sweep's best at that interval
//     less the slack: best / (1 + slack_factor) or best - slack_amount (maximising).
//   MedianStoppingPolicy(evaluation_interval, delay_evaluation)
//     stop when the trial's best so far is worse than the median of the other trials'
//     running averages over the same intervals.
//   TruncationSelectionPolicy(truncation_percentage, evaluation_interval, delay_evaluation)
//     stop when the trial's best so far is among the worst truncation_percentage % of the
//     trials that reached the interval (finished ones included), strictly worse than the
//     worst one kept.
//   AshaPolicy(grace_period, reduction_factor, max_intervals)
//     asynchronous successive halving, stopping variant: at each rung (interval
//     grace_period * reduction_factor^k, below max_intervals) stop when the trial's value
//     there is worse than the top 1/reduction_factor of the values the other trials had
//     at that rung.
//   NoTerminationPolicy: never stops a trial.
// The first three judge only at multiples of evaluation_interval that are at least
// delay_evaluation. A trial is compared only with values of the same interval, so a
// young trial meets old trials as they were at its age. A trial that logs nothing is
// never judged and is no one's comparison. Ties never stop a trial.
//
// Judge() is a pure function of the curves: the sweep driver calls it through
// JudgeNewIntervals() exactly once per (trial, interval), in order, and stores how far it
// judged with the decision, so a restarted driver neither judges twice nor skips.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "sweep/objective.h"

namespace kiln::sweep {

struct Curve {
  std::vector<double> values;  // interval i is values[i - 1]
};

class TerminationPolicy {
 public:
  virtual ~TerminationPolicy() = default;
  // "BanditPolicy", "MedianStoppingPolicy", "TruncationSelectionPolicy", "AshaPolicy",
  // "NoTerminationPolicy".
  virtual std::string_view Name() const = 0;
  // The JSON form Parse() takes, with every default filled in.
  virtual nlohmann::json ToJson() const = 0;
  // Whether the trial `curves[trial]` stops at `interval` (1 <= interval <=
  // curves[trial].values.size()), judged against the other curves as they are now. The
  // reason states the rule and the numbers; nullopt when the trial goes on.
  virtual std::optional<std::string> Judge(std::span<const Curve> curves, std::size_t trial,
                                           int interval, Goal goal) const = 0;

  // {"type": "bandit", "slack_factor": 0.1, ...}; the types are bandit, median_stopping,
  // truncation_selection, asha and none. InvalidArgument "<where>.<field>: ..." for an
  // unknown type or field, a missing one, or a value out of range.
  static Result<std::unique_ptr<TerminationPolicy>> Parse(const nlohmann::json& object,
                                                          std::string_view where);
};

struct Judgement {
  int judged_through = 0;         // the last interval judged (or skipped by the schedule)
  std::optional<int> stopped_at;  // the interval that stopped the trial
  std::string reason;             // "stopped early by ..." when stopped
};

// Judges the trial's intervals after `judged_through` in order, up to the last one it
// logged, and stops at the first that stops it.
Judgement JudgeNewIntervals(const TerminationPolicy& policy, std::span<const Curve> curves,
                            std::size_t trial, int judged_through, Goal goal);

// The best of values[0, interval) under `goal`; interval >= 1.
double BestUpTo(const std::vector<double>& values, int interval, Goal goal);

}  // namespace kiln::sweep
