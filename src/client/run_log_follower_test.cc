#include "client/run_log_follower.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "common/test_dir.h"
#include "launch/log_format.h"
#include "launch/run_dir.h"
#include "spec/spec_json.h"

namespace kiln::client {
namespace {

class RunLogFollowerTest : public ::testing::Test {
 protected:
  std::unique_ptr<RunFiles> files_ = LocalRunFiles();

  store::Run MakeRun(int ranks) {
    spec::JobSpec spec;
    spec.process_count_per_node = ranks;
    spec.distributed_backend = spec::DistributedBackend::kGloo;
    store::Run run;
    run.id = "r";
    run.run_dir = dir_.path().string();
    run.spec_json = spec::SpecToJson(spec).dump();
    EXPECT_TRUE(CreateDirectories(dir_.path() / "logs").ok());
    return run;
  }

  void Append(int rank, Timestamp at, std::string_view text) {
    const std::filesystem::path path = launch::RunDir(dir_.path()).rank_log(rank);
    const Result<std::string> existing = ReadFileToString(path);
    std::string contents = existing.ok() ? *existing : "";
    contents += launch::FormatLogLine(at, launch::Stream::kOut, text);
    ASSERT_TRUE(WriteFileAtomically(path, contents).ok());
  }

  static std::vector<std::string> Displays(const std::vector<RunLogLine>& lines) {
    std::vector<std::string> out;
    for (const RunLogLine& line : lines) out.push_back(line.display);
    return out;
  }

  TestDir dir_;
};

TEST_F(RunLogFollowerTest, MergesRanksInTimeOrder) {
  const store::Run run = MakeRun(3);
  Append(0, 100, "zero a");
  Append(1, 50, "one a");
  Append(0, 300, "zero b");
  Append(1, 300, "one b");  // rank 2 has not started: no log yet
  RunLogFollower follower(*files_, run, std::nullopt);
  const Result<std::vector<RunLogLine>> lines = follower.ReadNew();
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  EXPECT_EQ(Displays(*lines), (std::vector<std::string>{"[rank 1] one a", "[rank 0] zero a",
                                                        "[rank 0] zero b", "[rank 1] one b"}));
  EXPECT_EQ((*lines)[0].rank, 1);
  EXPECT_EQ((*lines)[0].line.text, "one a");

  Append(2, 400, "two a");
  EXPECT_EQ(Displays(*follower.ReadNew()), (std::vector<std::string>{"[rank 2] two a"}));
  EXPECT_TRUE(follower.ReadNew()->empty());
}

TEST_F(RunLogFollowerTest, OneRankOnly) {
  const store::Run run = MakeRun(2);
  Append(0, 100, "zero");
  Append(1, 200, "one");
  RunLogFollower follower(*files_, run, 1);
  EXPECT_EQ(Displays(*follower.ReadNew()), (std::vector<std::string>{"[rank 1] one"}));
}

TEST_F(RunLogFollowerTest, OneRankRunsHaveNoPrefix) {
  const store::Run run = MakeRun(1);
  Append(0, 100, "only");
  RunLogFollower follower(*files_, run, std::nullopt);
  EXPECT_EQ(Displays(*follower.ReadNew()), (std::vector<std::string>{"only"}));
  EXPECT_EQ(RunWorldSize(run), 1);
}

}  // namespace
}  // namespace kiln::client
