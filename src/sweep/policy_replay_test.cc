#include "sweep/policy_replay.h"

#include <gtest/gtest.h>

namespace kiln::sweep {
namespace {

constexpr Timestamp kSecond = 1'000'000;

// Values logged one a second from `start`; the trial ends a second after its last.
RecordedTrial Trial(std::string id, Timestamp start, std::vector<double> values) {
  RecordedTrial trial{std::move(id), values, {}, start * kSecond, 0};
  for (std::size_t i = 0; i < values.size(); ++i) {
    trial.times.push_back((start + static_cast<Timestamp>(i) + 1) * kSecond);
  }
  trial.ended_at = (start + static_cast<Timestamp>(values.size()) + 1) * kSecond;
  return trial;
}

std::unique_ptr<TerminationPolicy> Bandit(double slack) {
  return TerminationPolicy::Parse({{"type", "bandit"}, {"slack_factor", slack}}, "p").value();
}

TEST(PolicyReplayTest, StopsWhatThePolicyWouldHaveStoppedAndCountsTheSavings) {
  // a leads; b starts a second later and trails far behind; c starts late and leads.
  std::vector<RecordedTrial> trials = {Trial("a", 0, {0.5, 0.6, 0.7, 0.8}),
                                       Trial("b", 1, {0.1, 0.2, 0.3, 0.4}),
                                       Trial("c", 3, {0.6, 0.7, 0.8, 0.9})};
  const ReplayReport report = ReplayPolicy(*Bandit(0.1), Goal::kMaximize, trials);
  ASSERT_EQ(report.trials.size(), 3u);
  EXPECT_FALSE(report.trials[0].stopped_at);
  // b's first value (logged at 2 s) against a's 0.5: cut 0.4545.
  EXPECT_EQ(report.trials[1].stopped_at, 1);
  EXPECT_EQ(report.trials[1].reason.rfind("stopped early by BanditPolicy at interval 1: best 0.1 "
                                          "< 0.4545 = 0.5 / (1 + 0.1)",
                                          0),
            0u)
      << report.trials[1].reason;
  EXPECT_DOUBLE_EQ(report.trials[1].seconds_saved, 4);  // stopped at 2 s, ended at 6 s
  EXPECT_FALSE(report.trials[2].stopped_at);
  EXPECT_EQ(report.stopped, 1);
  EXPECT_DOUBLE_EQ(report.seconds_run, 15);
  EXPECT_DOUBLE_EQ(report.seconds_saved, 4);
  EXPECT_EQ(report.best, 2u);
  EXPECT_TRUE(report.best_survives);
}

TEST(PolicyReplayTest, SaysWhenTheBestTrialWouldHaveBeenStopped) {
  // A slow starter that ends best: an aggressive policy kills it early.
  std::vector<RecordedTrial> trials = {Trial("fast", 0, {0.6, 0.65, 0.7}),
                                       Trial("slow", 0, {0.2, 0.5, 0.9})};
  const ReplayReport aggressive = ReplayPolicy(*Bandit(0.05), Goal::kMaximize, trials);
  EXPECT_EQ(aggressive.trials[1].stopped_at, 1);
  EXPECT_EQ(aggressive.best, 1u);
  EXPECT_FALSE(aggressive.best_survives);
  const ReplayReport none = ReplayPolicy(*TerminationPolicy::Parse({{"type", "none"}}, "p").value(),
                                         Goal::kMaximize, trials);
  EXPECT_EQ(none.stopped, 0);
  EXPECT_TRUE(none.best_survives);
}

}  // namespace
}  // namespace kiln::sweep
