#include "sweep/termination_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kiln::sweep {
namespace {

using nlohmann::json;

std::unique_ptr<TerminationPolicy> Policy(const char* text) {
  Result<std::unique_ptr<TerminationPolicy>> policy =
      TerminationPolicy::Parse(json::parse(text), "early_termination");
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
  return std::move(policy).value();
}

std::string ParseError(const char* text) {
  Result<std::unique_ptr<TerminationPolicy>> policy =
      TerminationPolicy::Parse(json::parse(text), "sweep.yaml: early_termination");
  EXPECT_EQ(policy.status().code(), StatusCode::kInvalidArgument);
  return policy.status().message();
}

std::optional<std::string> Judge(const TerminationPolicy& policy, std::vector<Curve> curves,
                                 std::size_t trial, int interval, Goal goal = Goal::kMaximize) {
  return policy.Judge(curves, trial, interval, goal);
}

TEST(BanditPolicyTest, StopsBelowTheSlackOfTheBestAtTheSameInterval) {
  auto bandit = Policy(R"({"type": "bandit", "slack_factor": 0.1})");
  std::vector<Curve> curves = {{{0.5, 0.91, 0.95}}, {{0.45, 0.70}}};
  // Interval 2: the sweep's best is 0.91, the cut 0.91 / 1.1 = 0.8273; 0.70 is below.
  EXPECT_EQ(Judge(*bandit, curves, 1, 2),
            "stopped early by BanditPolicy at interval 2: best 0.7 < 0.8273 = 0.91 / (1 + "
            "0.1), the sweep's best at interval 2 (2 trials reached it)");
  // Interval 1: best 0.5, cut 0.4545; 0.45 is below it too, barely.
  EXPECT_TRUE(Judge(*bandit, curves, 1, 1).has_value());
  // The leader is never stopped; 0.95 at interval 3 is not compared with the trial's 2.
  EXPECT_EQ(Judge(*bandit, curves, 0, 3), std::nullopt);
}

TEST(BanditPolicyTest, SlackAmountAndMinimizing) {
  auto bandit = Policy(R"({"type": "bandit", "slack_amount": 0.2})");
  std::vector<Curve> curves = {{{1.0, 0.8}}, {{1.2, 1.05}}, {{1.1, 0.95}}};
  // Minimising: best 0.8 at interval 2, cut 1.0; 1.05 is above it, 0.95 is not.
  EXPECT_EQ(Judge(*bandit, curves, 1, 2, Goal::kMinimize),
            "stopped early by BanditPolicy at interval 2: best 1.05 > 1 = 0.8 + 0.2, the "
            "sweep's best at interval 2 (3 trials reached it)");
  EXPECT_EQ(Judge(*bandit, curves, 2, 2, Goal::kMinimize), std::nullopt);
}

TEST(BanditPolicyTest, AFactorOnANegativeBestStillAllowsSlack) {
  auto bandit = Policy(R"({"type": "bandit", "slack_factor": 0.5})");
  // Maximising a negative metric: the best -1 allows down to -1.5, not -0.667.
  std::vector<Curve> curves = {{{-1.0}}, {{-1.4}}, {{-1.6}}};
  EXPECT_EQ(Judge(*bandit, curves, 0, 1), std::nullopt);
  EXPECT_EQ(Judge(*bandit, curves, 1, 1), std::nullopt);
  EXPECT_THAT(Judge(*bandit, curves, 2, 1).value_or(""),
              ::testing::HasSubstr("best -1.6 < -1.5 = -1 * (1 + 0.5)"));
}

TEST(BanditPolicyTest, JudgesOnlyOnItsScheduleAfterTheDelay) {
  auto bandit = Policy(
      R"({"type": "bandit", "slack_factor": 0.1, "evaluation_interval": 2, "delay_evaluation": 3})");
  std::vector<Curve> curves = {{{1, 1, 1, 1, 1}}, {{0, 0, 0, 0, 0}}};
  for (int interval = 1; interval <= 5; ++interval) {
    EXPECT_EQ(Judge(*bandit, curves, 1, interval).has_value(), interval == 4) << interval;
  }
}

TEST(MedianStoppingPolicyTest, ComparesTheBestWithTheMedianOfRunningAverages) {
  auto median = Policy(R"({"type": "median_stopping"})");
  // Running averages over intervals 1-3: 2 and 2; median 2.
  std::vector<Curve> curves = {{{1, 2, 3}}, {{2, 2, 2}}, {{1, 1, 1.5}}, {{2, 2, 2}}};
  EXPECT_EQ(Judge(*median, curves, 2, 3),
            "stopped early by MedianStoppingPolicy at interval 3: best 1.5 < 2, the median of "
            "3 other trials' running averages over intervals 1-3");
  // A tie with the median is no reason to stop.
  EXPECT_EQ(Judge(*median, curves, 3, 3), std::nullopt);
  // Alone at an interval, a trial has no one to be compared with.
  std::vector<Curve> alone = {{{1, 2, 3, 4}}, {{0}}};
  EXPECT_EQ(Judge(*median, alone, 0, 4), std::nullopt);
}

TEST(TruncationSelectionPolicyTest, CutsTheWorstPercentageStrictly) {
  auto truncation = Policy(R"({"type": "truncation_selection", "truncation_percentage": 40})");
  std::vector<Curve> curves = {{{0.1}}, {{0.2}}, {{0.3}}, {{0.4}}, {{0.5}}};
  // 40% of 5 is 2: 0.1 and 0.2 go; 0.3 is the worst kept.
  EXPECT_EQ(Judge(*truncation, curves, 0, 1),
            "stopped early by TruncationSelectionPolicy at interval 1: best 0.1 is in the "
            "worst 40% of the 5 trials that reached interval 1 (2 cut), < 0.3, the worst kept");
  EXPECT_TRUE(Judge(*truncation, curves, 1, 1).has_value());
  EXPECT_EQ(Judge(*truncation, curves, 2, 1), std::nullopt);
}

TEST(TruncationSelectionPolicyTest, TiesWithTheWorstKeptSurvive) {
  auto truncation = Policy(R"({"type": "truncation_selection", "truncation_percentage": 20})");
  std::vector<Curve> curves = {{{0.1}}, {{0.1}}, {{0.3}}, {{0.4}}, {{0.5}}};
  EXPECT_EQ(Judge(*truncation, curves, 0, 1), std::nullopt);
  EXPECT_EQ(Judge(*truncation, curves, 1, 1), std::nullopt);
  // Fewer trials than one cut needs (20% of 4 is 0): nobody goes.
  std::vector<Curve> four = {{{0.1}}, {{0.3}}, {{0.4}}, {{0.5}}};
  EXPECT_EQ(Judge(*truncation, four, 0, 1), std::nullopt);
}

TEST(AshaPolicyTest, StopsBelowTheTopFractionAtEachRung) {
  auto asha = Policy(R"({"type": "asha", "grace_period": 1, "reduction_factor": 3,
                          "max_intervals": 9})");
  // Rungs at intervals 1 and 3 (9 is max_intervals). The others at interval 3: 0.5, 0.6,
  // 0.9; the 66.7th percentile is 0.6 + 0.3 / 3 = 0.7.
  std::vector<Curve> curves = {{{0.1, 0.3, 0.5}},
                               {{0.2, 0.4, 0.6}},
                               {{0.3, 0.6, 0.9}},
                               {{0.9, 0.95, 0.65, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}}};
  EXPECT_EQ(Judge(*asha, curves, 3, 3),
            "stopped early by AshaPolicy at rung 1 (interval 3): value 0.65 < 0.7, the top 1/3 "
            "cut-off of 3 other trials' values at interval 3");
  EXPECT_EQ(Judge(*asha, curves, 3, 2), std::nullopt);  // not a rung
  EXPECT_EQ(Judge(*asha, curves, 3, 1), std::nullopt);  // 0.9 is above 0.23
  EXPECT_EQ(Judge(*asha, curves, 3, 9), std::nullopt);  // max_intervals has no rung
  // The value at the rung counts, not the trial's best: minimising, 0.65 > 0.567.
  std::vector<Curve> minimizing = {{{0.5}}, {{0.6}}, {{0.9}}, {{0.65}}};
  EXPECT_THAT(Judge(*asha, minimizing, 3, 1, Goal::kMinimize).value_or(""),
              ::testing::HasSubstr("value 0.65 > 0.5667"));
}

TEST(JudgeNewIntervalsTest, JudgesEachIntervalOnceAndStopsAtTheFirstStop) {
  // Counts its calls; stops at interval 4.
  class Counting : public TerminationPolicy {
   public:
    std::string_view Name() const override { return "Counting"; }
    json ToJson() const override { return {}; }
    std::optional<std::string> Judge(std::span<const Curve>, std::size_t, int interval,
                                     Goal) const override {
      judged.push_back(interval);
      if (interval == 4) return "stop";
      return std::nullopt;
    }
    mutable std::vector<int> judged;
  } counting;
  std::vector<Curve> curves = {{{1, 2}}};
  Judgement first = JudgeNewIntervals(counting, curves, 0, 0, Goal::kMaximize);
  EXPECT_EQ(first.judged_through, 2);
  EXPECT_FALSE(first.stopped_at);
  // Two more points arrive, and the ingest runs again from the stored cursor.
  curves[0].values = {1, 2, 3, 4, 5};
  Judgement second = JudgeNewIntervals(counting, curves, 0, first.judged_through, Goal::kMaximize);
  EXPECT_EQ(second.stopped_at, 4);
  EXPECT_EQ(second.judged_through, 4);
  EXPECT_EQ(second.reason, "stop");
  EXPECT_EQ(counting.judged, (std::vector<int>{1, 2, 3, 4}));
  // A trial that logged nothing is not judged at all.
  std::vector<Curve> silent = {{{}}};
  EXPECT_EQ(JudgeNewIntervals(counting, silent, 0, 0, Goal::kMaximize).judged_through, 0);
}

TEST(TerminationPolicyTest, ATrialThatLogsNothingIsNoOnesComparison) {
  auto bandit = Policy(R"({"type": "bandit", "slack_factor": 0.1})");
  std::vector<Curve> curves = {{{}}, {{0.5}}};
  EXPECT_EQ(Judge(*bandit, curves, 1, 1), std::nullopt);
}

TEST(TerminationPolicyTest, ParsingFillsDefaultsAndRefusesBadFields) {
  EXPECT_EQ(Policy(R"({"type": "median_stopping"})")->ToJson(),
            json::parse(R"({"type": "median_stopping", "evaluation_interval": 1,
                            "delay_evaluation": 0})"));
  EXPECT_EQ(Policy(R"({"type": "asha"})")->ToJson(),
            json::parse(R"({"type": "asha", "grace_period": 1, "reduction_factor": 3,
                            "max_intervals": 0})"));
  EXPECT_EQ(ParseError(R"({"type": "bandit"})"),
            "sweep.yaml: early_termination: the bandit policy needs exactly one of slack_factor "
            "and slack_amount");
  EXPECT_EQ(ParseError(R"({"type": "bandit", "slack_factor": 0.1, "slack_amount": 0.2})"),
            "sweep.yaml: early_termination: the bandit policy needs exactly one of slack_factor "
            "and slack_amount");
  EXPECT_EQ(ParseError(R"({"type": "median_stopping", "evaluation_interval": 0})"),
            "sweep.yaml: early_termination.evaluation_interval: must be >= 1, got 0");
  EXPECT_EQ(ParseError(R"({"type": "median_stopping", "delay_evaluation": 1.5})"),
            "sweep.yaml: early_termination.delay_evaluation: must be a whole number, got 1.5");
  EXPECT_EQ(ParseError(R"({"type": "truncation_selection"})"),
            "sweep.yaml: early_termination.truncation_percentage: must be a whole number from 1 "
            "to 99 (it is required)");
  EXPECT_EQ(ParseError(R"({"type": "truncation_selection", "truncation_percentage": 100})"),
            "sweep.yaml: early_termination.truncation_percentage: must be a whole number from 1 "
            "to 99, got 100");
  EXPECT_EQ(ParseError(R"({"type": "median_stopping", "slack_factor": 0.1})"),
            "sweep.yaml: early_termination: the median_stopping policy takes no field "
            "\"slack_factor\"; its fields are delay_evaluation, evaluation_interval");
  EXPECT_EQ(ParseError(R"({"type": "asha", "grace_period": 4, "max_intervals": 4})"),
            "sweep.yaml: early_termination.max_intervals: must be above grace_period (4) or 0 "
            "for no bound, got 4");
  EXPECT_EQ(ParseError(R"({"type": "hyperband"})"),
            "sweep.yaml: early_termination.type: unknown policy 'hyperband'; use one of bandit, "
            "median_stopping, truncation_selection, asha, none");
}

}  // namespace
}  // namespace kiln::sweep
