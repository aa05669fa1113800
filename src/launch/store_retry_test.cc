#include "launch/store_retry.h"

#include <gtest/gtest.h>

namespace kiln::launch {
namespace {

// The patience is measured on the clock the launcher is given, not the system's: a fake
// clock that the waits advance ends the retries after exactly the delays that fit.
TEST(StoreRetryTest, PatienceRunsOnTheGivenClock) {
  FakeClock clock(0);
  std::vector<std::int64_t> waits;
  const RetryPolicy policy{&clock, std::chrono::seconds(10), [&](std::chrono::milliseconds ms) {
                             waits.push_back(ms.count());
                             clock.Advance(ms);
                             return false;
                           }};
  int calls = 0;
  const Status status = RetryWhileUnavailable("storing", policy, [&] {
    ++calls;
    return UnavailableError("the server is down");
  });
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  // 250 + 500 + 1000 + 2000 + 4000 ms fit in 10 s; the next 5 s would not.
  EXPECT_EQ(waits, (std::vector<std::int64_t>{250, 500, 1000, 2000, 4000}));
  EXPECT_EQ(calls, 6);
}

TEST(StoreRetryTest, AStopEndsTheWaitingAtOnce) {
  FakeClock clock(0);
  int waits = 0;
  const RetryPolicy policy{&clock, std::chrono::hours(24), [&](std::chrono::milliseconds) {
                             ++waits;
                             return true;
                           }};
  int calls = 0;
  const Result<int> result = RetryWhileUnavailable("storing", policy, [&]() -> Result<int> {
    ++calls;
    return UnavailableError("the server is down");
  });
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(waits, 1);
}

TEST(StoreRetryTest, OtherAnswersComeBackWithoutRetrying) {
  FakeClock clock(0);
  const RetryPolicy policy{&clock, std::chrono::hours(24), [](std::chrono::milliseconds) {
                             ADD_FAILURE() << "no wait expected";
                             return false;
                           }};
  int calls = 0;
  const Status refused = RetryWhileUnavailable("recording", policy, [&] {
    ++calls;
    return FailedPreconditionError("the run is Canceled");
  });
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  const Result<int> ok = RetryWhileUnavailable("reading", policy, [&]() -> Result<int> {
    ++calls;
    return 7;
  });
  EXPECT_EQ(*ok, 7);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace kiln::launch
