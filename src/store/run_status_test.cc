#include "store/run_status.h"

#include <gtest/gtest.h>

namespace kiln::store {
namespace {

TEST(RunStatusTest, NamesRoundTrip) {
  for (RunStatus status : kAllStatuses) {
    EXPECT_EQ(ParseRunStatus(RunStatusName(status)), status);
  }
  EXPECT_EQ(ParseRunStatus("running"), RunStatus::kRunning);
  EXPECT_EQ(ParseRunStatus("cancel_requested"), RunStatus::kCancelRequested);
  EXPECT_EQ(ParseRunStatus("done"), std::nullopt);
}

TEST(RunStatusTest, LifecycleMoves) {
  using S = RunStatus;
  EXPECT_TRUE(IsAllowedTransition(S::kQueued, S::kPreparing));
  EXPECT_TRUE(IsAllowedTransition(S::kPreparing, S::kRunning));
  EXPECT_TRUE(IsAllowedTransition(S::kRunning, S::kFinalizing));
  EXPECT_TRUE(IsAllowedTransition(S::kFinalizing, S::kCompleted));
  EXPECT_TRUE(IsAllowedTransition(S::kRunning, S::kCancelRequested));
  EXPECT_TRUE(IsAllowedTransition(S::kCancelRequested, S::kCanceled));
  EXPECT_TRUE(IsAllowedTransition(S::kQueued, S::kCanceled));
  for (S status : {S::kQueued, S::kPreparing, S::kRunning, S::kFinalizing, S::kCancelRequested}) {
    EXPECT_TRUE(IsAllowedTransition(status, S::kFailed)) << RunStatusName(status);
  }
  EXPECT_FALSE(IsAllowedTransition(S::kQueued, S::kRunning));
  EXPECT_FALSE(IsAllowedTransition(S::kRunning, S::kCompleted));
  EXPECT_FALSE(IsAllowedTransition(S::kFinalizing, S::kCancelRequested));
  EXPECT_FALSE(IsAllowedTransition(S::kCancelRequested, S::kCompleted));
  for (S terminal : {S::kCompleted, S::kFailed, S::kCanceled}) {
    EXPECT_TRUE(IsTerminal(terminal));
    for (S to : kAllStatuses) EXPECT_FALSE(IsAllowedTransition(terminal, to));
  }
}

}  // namespace
}  // namespace kiln::store
