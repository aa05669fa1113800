#include "tracking/run.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/files.h"
#include "common/test_dir.h"

namespace kiln::tracking {
namespace {
namespace fs = std::filesystem;

constexpr std::string_view kPng{"\x89PNG\r\n\x1a\n....", 12};

TEST(RunTest, LogsEveryKindAndReadsItBack) {
  TestDir dir;
  auto run = Run::Open("r1", "e", dir.path(), 0);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_FALSE((*run)->offline());
  ASSERT_TRUE((*run)->Log("loss", 0.5).ok());
  ASSERT_TRUE((*run)->Log("loss", 0.25).ok());
  const double values[] = {1, 2, 3};
  ASSERT_TRUE((*run)->LogList("hist", values).ok());
  const std::pair<std::string, double> row[] = {{"epoch", 1}, {"acc", 0.9}};
  ASSERT_TRUE((*run)->LogRow("scores", row).ok());
  const std::pair<std::string, std::vector<double>> table[] = {{"x", {1, 2}}, {"y", {3, 4}}};
  ASSERT_TRUE((*run)->LogTable("curve", table).ok());
  ASSERT_TRUE((*run)->LogImageBytes("confusion matrix", kPng).ok());
  ASSERT_TRUE((*run)->LogImageBytes("confusion matrix", kPng).ok());

  const auto metrics = (*run)->GetMetrics();
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->at("loss").values, (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(metrics->at("hist").json, std::vector<std::string>{"[1.0,2.0,3.0]"});
  EXPECT_EQ(metrics->at("scores").json, std::vector<std::string>{R"({"acc":0.9,"epoch":1.0})"});
  EXPECT_EQ(metrics->at("curve").kind, store::MetricKind::kTable);
  EXPECT_EQ(metrics->at("confusion matrix").json[1],
            R"({"path":"outputs/images/confusion_matrix_2.png"})");
  EXPECT_EQ(*ReadFileToString(dir.path() / "outputs/images/confusion_matrix.png"), kPng);
}

TEST(RunTest, BadInputIsRefused) {
  TestDir dir;
  auto run = Run::Open("r1", "e", dir.path(), 0);
  ASSERT_TRUE(run.ok());
  const double bad[] = {1, NAN};
  EXPECT_EQ((*run)->LogList("hist", bad).message(),
            "metric 'hist': values must be finite numbers, got nan");
  EXPECT_EQ((*run)->LogImageBytes("img", "GIF89a...").message(), "image 'img' is not a PNG file");
  EXPECT_EQ((*run)->LogImage("img", dir.path() / "none.png").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*run)->UploadFile("../escape", dir.path()).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE((*run)->GetMetrics()->empty());
}

TEST(RunTest, UploadCopiesIntoOutputs) {
  TestDir dir;
  auto run = Run::Open("r1", "e", dir.path() / "run", 0);
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "notes.txt", "n").ok());
  ASSERT_TRUE((*run)->UploadFile("reports/notes.txt", dir.path() / "notes.txt").ok());
  EXPECT_EQ(*ReadFileToString(dir.path() / "run/outputs/reports/notes.txt"), "n");
}

TEST(RunTest, OfflineRunPrintsAndStillValidates) {
  auto run = Run::Open("OfflineRun_x", "offline", "", 0);
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE((*run)->offline());
  testing::internal::CaptureStdout();
  ASSERT_TRUE((*run)->Log("loss", 0.5, 3).ok());
  ASSERT_TRUE((*run)->Tag("k", "v").ok());
  EXPECT_EQ(testing::internal::GetCapturedStdout(),
            "[kiln offline] loss = 0.5 (step 3)\n[kiln offline] tag k = v\n");
  EXPECT_EQ((*run)->Log("loss", INFINITY).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*run)->Log("", 1).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::tracking
