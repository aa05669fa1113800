// Run tracking end to end with a C++ entry program using the C++ Run API: the launcher
// ingests the spool, and kiln metrics / compare / plot read the store.

#include <fmt/format.h>
#include <sys/stat.h>

#include "common/files.h"
#include "common/strings.h"
#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {
namespace fs = std::filesystem;

class MetricsTest : public KilnTest {
 protected:
  // A source folder holding the C++ logging program as its entry.
  fs::path LoggingProject(const std::string& name) {
    const fs::path folder = Project(name, {});
    EXPECT_TRUE(CopyFileContents(KILN_LOG_METRICS_PROGRAM, folder / "log_metrics", 0755).ok());
    return folder;
  }

  std::string RunLogging(const std::string& points, const std::vector<std::string>& extra = {}) {
    const fs::path project = LoggingProject("proj-" + std::to_string(++projects_));
    std::vector<std::string> args = {
        "submit",      "--source-directory", project.string(), "--entry-script",
        "log_metrics", "--script-param",     points,           "--wait"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CapturedRun run = Kiln(args);
    EXPECT_TRUE(run.exit.code == 0 || run.exit.code == 1) << run.err;
    return FirstLine(run.out);
  }

  int projects_ = 0;
};

TEST_F(MetricsTest, SummaryAndSeriesInEveryFormat) {
  const std::string id = RunLogging("1000");
  const CapturedRun table = Kiln({"metrics", id});
  ASSERT_EQ(table.exit.code, 0) << table.err;
  EXPECT_NE(table.out.find("NAME    RANK  KIND    COUNT  LAST   MIN    MAX  LAST STEP"),
            std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("loss    0     scalar  1,000  0.001  0.001  1    999"),
            std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("scores  0     row     1"), std::string::npos) << table.out;

  const CapturedRun csv = Kiln({"metrics", id, "--name", "loss", "--format", "csv"});
  ASSERT_EQ(csv.exit.code, 0);
  const std::vector<std::string> lines = SplitString(csv.out, '\n');
  ASSERT_EQ(lines.size(), 1002u);  // header, 1000 points, final newline
  EXPECT_EQ(lines[0], "name,rank,step,value,time");
  EXPECT_TRUE(lines[1].starts_with("loss,0,0,1,")) << lines[1];
  EXPECT_TRUE(lines[2].starts_with("loss,0,1,0.5,")) << lines[2];

  const nlohmann::json series = KilnJson({"metrics", id, "--name", "loss", "--format", "json"});
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0]["kind"], "scalar");
  EXPECT_EQ(series[0]["steps"].size(), 1000u);
  EXPECT_EQ(series[0]["values"][3], 0.25);
  const nlohmann::json row = KilnJson({"metrics", id, "--name", "scores", "--format", "json"});
  EXPECT_EQ(row[0]["values"][0]["accuracy"], 0.5);
  const nlohmann::json summary = KilnJson({"metrics", id, "--format", "json"});
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_EQ(summary[0]["count"], 1000);
  EXPECT_EQ(summary[0]["max"], 1.0);
  const CapturedRun summary_csv = Kiln({"metrics", id, "--format", "csv"});
  EXPECT_TRUE(
      summary_csv.out.starts_with("name,rank,kind,count,last,min,max,last_step\nloss,0,"
                                  "scalar,1000,0.001,0.001,1,999\n"))
      << summary_csv.out;
  EXPECT_EQ(KilnJson({"show", id, "--json"})["tags"]["language"], "c++");
}

TEST_F(MetricsTest, RanksAndBadArguments) {
  const std::string id = RunLogging("10");
  EXPECT_EQ(KilnJson({"metrics", id, "--rank", "all", "--format", "json"}).size(), 2u);
  EXPECT_TRUE(KilnJson({"metrics", id, "--rank", "1", "--format", "json"}).empty());
  const CapturedRun missing = Kiln({"metrics", id, "--name", "loss", "--rank", "1"});
  EXPECT_EQ(missing.exit.code, 3);
  EXPECT_EQ(missing.err, fmt::format("error: run {} has no metric 'loss' from rank 1\n", id));
  EXPECT_EQ(Kiln({"metrics", id, "--format", "xml"}).err,
            "error: --format: must be table, csv or json; got 'xml'\n");
  EXPECT_EQ(Kiln({"metrics", id, "--rank", "-1"}).exit.code, 2);
}

TEST_F(MetricsTest, PointsLoggedBeforeSigkillAreKept) {
  const std::string id = RunLogging("100000", {"--script-param", "--kill"});
  const nlohmann::json shown = KilnJson({"show", id, "--json"});
  EXPECT_EQ(shown["failure_reason"], "rank 0 was killed by SIGKILL");
  const nlohmann::json summary = KilnJson({"metrics", id, "--format", "json"});
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_EQ(summary[0]["name"], "loss");
  EXPECT_EQ(summary[0]["count"], 100000);
  EXPECT_EQ(summary[0]["last_step"], 99999);
}

TEST_F(MetricsTest, CompareShowsRunsSideBySide) {
  const std::string a = RunLogging("10");
  const std::string b = RunLogging("20");
  const CapturedRun table = Kiln({"compare", a, b});
  ASSERT_EQ(table.exit.code, 0) << table.err;
  EXPECT_NE(table.out.find(a), std::string::npos);
  EXPECT_NE(table.out.find(b), std::string::npos);
  EXPECT_NE(table.out.find("param 10"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("loss (last)  0.1"), std::string::npos) << table.out;
  const nlohmann::json json = KilnJson({"compare", a, b, "--json"});
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json[1]["metrics"]["loss"]["last"], 0.05);
  EXPECT_EQ(json[1]["metrics"]["loss"]["count"], 20);
  EXPECT_EQ(Kiln({"compare", a}).exit.code, 2);
}

TEST_F(MetricsTest, PlotWritesPngAndSvg) {
  const std::string a = RunLogging("500");
  const std::string b = RunLogging("300");
  const fs::path png = root() / "curves.png";
  const CapturedRun plotted = Kiln({"plot", a + "," + b, "loss", "-o", png.string()});
  ASSERT_EQ(plotted.exit.code, 0) << plotted.err;
  EXPECT_TRUE(ReadFileToString(png)->starts_with("\x89PNG"));
  const fs::path svg = root() / "curves.svg";
  ASSERT_EQ(Kiln({"plot", a, "loss", "-o", svg.string()}).exit.code, 0);
  EXPECT_NE(ReadFileToString(svg)->find("<svg"), std::string::npos);
  EXPECT_EQ(Kiln({"plot", a, "nope", "-o", png.string()}).exit.code, 3);
  EXPECT_EQ(Kiln({"plot", a, "scores", "-o", png.string()}).exit.code, 2);
  EXPECT_EQ(Kiln({"plot", a, "loss", "-o", (root() / "x.gif").string()}).err,
            "error: -o: '" + (root() / "x.gif").string() + "' must end in .png or .svg\n");
}

}  // namespace
}  // namespace kiln::e2e
