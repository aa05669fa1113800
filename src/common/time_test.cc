#include "common/time.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(TimeTest, FormatAndParseRoundTrip) {
  const Timestamp t = 1'764'580'353'123'456;  // 2025-12-01T09:12:33.123456Z
  EXPECT_EQ(FormatTimestamp(t), "2025-12-01T09:12:33.123456Z");
  EXPECT_EQ(ParseTimestamp(FormatTimestamp(t)), t);
  EXPECT_EQ(FormatTimestampShort(t), "2025-12-01 09:12:33");
  EXPECT_EQ(ParseTimestamp("2025-12-01 09:12:33"), std::nullopt);
}

TEST(TimeTest, Durations) {
  EXPECT_EQ(FormatDuration(40'500), "40ms");
  EXPECT_EQ(FormatDuration(3'200'000), "3.2s");
  EXPECT_EQ(FormatDuration(252'000'000), "4m12s");
  EXPECT_EQ(FormatDuration(7'380'000'000), "2h03m");
  EXPECT_EQ(FormatDuration(100'800'000'000), "1d04h");
}

TEST(TimeTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock(1000);
  EXPECT_EQ(clock.Now(), 1000);
  clock.Advance(std::chrono::seconds(2));
  EXPECT_EQ(clock.Now(), 2'001'000);
}

}  // namespace
}  // namespace kiln
