#include "store/point_block.h"

#include <gtest/gtest.h>

#include <limits>

namespace kiln::store {
namespace {

TEST(PointBlockTest, RoundTripsAndIsCompact) {
  std::vector<MetricPoint> points;
  for (int i = 0; i < 1000; ++i)
    points.push_back({i, 1.0 / (i + 1), 1'764'580'353'000'000 + 3 * i});
  const std::string block = EncodePointBlock(points);
  EXPECT_LT(block.size(), 1 + 1000 * 12 + 16);  // ~11 bytes a point, not 24
  std::vector<MetricPoint> back;
  ASSERT_TRUE(DecodePointBlock(block, back).ok());
  EXPECT_EQ(back, points);
}

TEST(PointBlockTest, ExtremesAndBackwardsSteps) {
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  const std::vector<MetricPoint> points = {
      {kMax, -0.0, 0}, {kMin, 1e308, kMax}, {-5, 3.5, kMin}, {10, -2, 7}, {3, 0, 6}};
  std::vector<MetricPoint> back;
  ASSERT_TRUE(DecodePointBlock(EncodePointBlock(points), back).ok());
  EXPECT_EQ(back, points);
}

TEST(PointBlockTest, DamagedBlocksAreDataLoss) {
  const std::string block = EncodePointBlock(std::vector<MetricPoint>{{1, 2, 3}, {4, 5, 6}});
  std::vector<MetricPoint> back;
  EXPECT_EQ(DecodePointBlock(block.substr(0, block.size() - 4), back).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecodePointBlock("", back).code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodePointBlock("\x02", back).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace kiln::store
