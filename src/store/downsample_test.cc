#include "store/downsample.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln::store {
namespace {

MetricSeries Sine(std::size_t n) {
  MetricSeries series;
  series.name = "loss";
  for (std::size_t i = 0; i < n; ++i) {
    series.points.push_back({static_cast<std::int64_t>(i), std::sin(i / 100.0), 0});
  }
  return series;
}

TEST(DownsampleTest, ShortSeriesIsUnchanged) {
  const MetricSeries series = Sine(10);
  EXPECT_EQ(Downsample(series, 10).points, series.points);
}

TEST(DownsampleTest, KeepsEndsSpikesAndStepOrder) {
  MetricSeries series = Sine(100'000);
  series.points[54'321].value = 50;  // a spike
  const MetricSeries small = Downsample(series, 500);
  ASSERT_LE(small.points.size(), 500u);
  EXPECT_GE(small.points.size(), 400u);
  EXPECT_EQ(small.points.front(), series.points.front());
  EXPECT_EQ(small.points.back(), series.points.back());
  EXPECT_TRUE(std::is_sorted(small.points.begin(), small.points.end(),
                             [](const auto& a, const auto& b) { return a.step < b.step; }));
  EXPECT_TRUE(std::any_of(small.points.begin(), small.points.end(),
                          [](const MetricPoint& p) { return p.value == 50; }));
}

TEST(DownsampleTest, ValuesAreEvenlySpacedWithTheLast) {
  MetricSeries series;
  series.kind = MetricKind::kList;
  for (int i = 0; i < 1000; ++i) series.values.push_back({i, std::to_string(i)});
  const MetricSeries small = Downsample(series, 10);
  ASSERT_EQ(small.values.size(), 10u);
  EXPECT_EQ(small.values.front().json, "0");
  EXPECT_EQ(small.values.back().json, "999");
}

}  // namespace
}  // namespace kiln::store
