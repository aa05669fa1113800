#include "store/metric_range.h"

#include <gtest/gtest.h>

namespace kiln::store {
namespace {

MetricSeries Steps(std::initializer_list<std::int64_t> steps) {
  MetricSeries series;
  series.name = "loss";
  for (const std::int64_t step : steps) {
    series.points.push_back({step, static_cast<double>(step) * 10, 1000 + step});
  }
  return series;
}

std::vector<std::int64_t> StepsOf(const MetricSeries& series) {
  std::vector<std::int64_t> out;
  for (const MetricPoint& point : series.points) out.push_back(point.step);
  return out;
}

TEST(MetricRangeTest, KeepsTheRangeAndOneNeighbourOnEachSide) {
  const MetricSeries series = Steps({0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(StepsOf(SliceMetric(series, {MetricAxis::kStep, 3, 4})),
            (std::vector<std::int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(StepsOf(SliceMetric(series, {MetricAxis::kStep, 0, 1})),
            (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(StepsOf(SliceMetric(series, {MetricAxis::kStep, 6.5, std::nullopt})),
            (std::vector<std::int64_t>{6, 7}));
  EXPECT_EQ(SliceMetric(series, {MetricAxis::kStep, 20, 30}).points.size(), 1u)
      << "the last before";
  // Between two logged steps: the two, so the line crosses the range.
  EXPECT_EQ(StepsOf(SliceMetric(Steps({0, 10, 20}), {MetricAxis::kStep, 12, 15})),
            (std::vector<std::int64_t>{10, 20}));
  EXPECT_EQ(SliceMetric(series, {}).points.size(), 8u);
}

TEST(MetricRangeTest, CutsByTimeOnTheTimeAxis) {
  const MetricSeries series = Steps({0, 1, 2, 3, 4});
  EXPECT_EQ(StepsOf(SliceMetric(series, {MetricAxis::kTime, 1002, 1002})),
            (std::vector<std::int64_t>{1, 2, 3}));
}

TEST(MetricRangeTest, ValuesOfOtherKindsAreCutByTimeOnly) {
  MetricSeries series;
  series.kind = MetricKind::kImage;
  for (int i = 0; i < 5; ++i) series.values.push_back({100 + i, "{}"});
  EXPECT_EQ(SliceMetric(series, {MetricAxis::kStep, 1, 2}).values.size(), 5u);
  EXPECT_EQ(SliceMetric(series, {MetricAxis::kTime, 103, 104}).values.size(), 3u);
}

TEST(MetricRangeTest, AxisNamesAreStepAndTime) {
  EXPECT_EQ(*ParseMetricAxis("time"), MetricAxis::kTime);
  const Result<MetricAxis> bad = ParseMetricAxis("epoch");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("expected step or time, got 'epoch'"), std::string::npos);
}

}  // namespace
}  // namespace kiln::store
