#include "plot/line_chart.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/files.h"
#include "common/test_dir.h"

namespace kiln::plot {
namespace {

TEST(NiceTicksTest, RoundNumbers) {
  EXPECT_EQ(NiceTicks(0, 1, 6), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(NiceTicks(0, 937, 6), (std::vector<double>{0, 200, 400, 600, 800, 1000}));
  const std::vector<double> negative = NiceTicks(-3, 7, 6);
  EXPECT_EQ(negative.front(), -4);
  EXPECT_EQ(negative.back(), 8);
}

TEST(RenderChartsTest, WritesPngAndSvg) {
  TestDir dir;
  Chart chart{"loss", "step", {}};
  for (int run = 0; run < 3; ++run) {
    Series series{"run " + std::to_string(run), {}, {}};
    for (int i = 0; i < 100'000; ++i) {
      series.x.push_back(i);
      series.y.push_back(std::exp(-i / 20000.0) + 0.1 * run + 0.01 * std::sin(i));
    }
    chart.series.push_back(std::move(series));
  }
  Chart single{"accuracy", "epoch", {{"only", {1}, {0.9}}}};
  ASSERT_TRUE(RenderCharts({chart, single}, dir.path() / "curves.png").ok());
  const auto png = ReadFileToString(dir.path() / "curves.png");
  ASSERT_TRUE(png.ok());
  EXPECT_TRUE(png->starts_with("\x89PNG"));
  ASSERT_TRUE(RenderCharts({chart}, dir.path() / "curves.svg").ok());
  const auto svg = ReadFileToString(dir.path() / "curves.svg");
  ASSERT_TRUE(svg.ok());
  EXPECT_NE(svg->find("<svg"), std::string::npos);
  EXPECT_LT(svg->size(), 2'000'000u) << "long series must be reduced";
}

TEST(RenderChartsTest, RefusesOtherFormats) {
  TestDir dir;
  EXPECT_EQ(RenderCharts({Chart{}}, dir.path() / "x.jpg").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RenderCharts({}, dir.path() / "x.png").code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::plot
