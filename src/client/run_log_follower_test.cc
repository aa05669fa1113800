#include "client/run_log_follower.h"

#include <fmt/format.h>
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

// Pages of 2 lines: the merge goes on across pages, and across followers through cursors,
// in the same order as one read of everything.
TEST_F(RunLogFollowerTest, PagesAndCursorsKeepTheOrder) {
  const store::Run run = MakeRun(2);
  Append(0, 100, "a");
  Append(1, 150, "b");
  Append(0, 200, "c");
  Append(1, 250, "d");
  Append(0, 300, "e");
  RunLogFollower first(*files_, run, std::nullopt);
  EXPECT_EQ(Displays(*first.ReadNew(2)), (std::vector<std::string>{"[rank 0] a", "[rank 1] b"}));
  EXPECT_TRUE(first.more());
  const std::string cursor = first.cursor();
  // Environment log (none yet), rank 0 past "a", rank 1 past "b".
  EXPECT_EQ(cursor,
            fmt::format("0-{}-{}", launch::FormatLogLine(100, launch::Stream::kOut, "a").size(),
                        launch::FormatLogLine(150, launch::Stream::kOut, "b").size()));

  RunLogFollower second(*files_, run, std::nullopt);
  ASSERT_TRUE(second.Seek(cursor).ok());
  EXPECT_EQ(Displays(*second.ReadNew(2)), (std::vector<std::string>{"[rank 0] c", "[rank 1] d"}));
  EXPECT_TRUE(second.more());
  EXPECT_EQ(Displays(*second.ReadNew(2)), (std::vector<std::string>{"[rank 0] e"}));
  EXPECT_FALSE(second.more());
  EXPECT_TRUE(second.ReadNew(2)->empty());
  EXPECT_FALSE(second.more());
}

TEST_F(RunLogFollowerTest, CursorOfAnotherShapeIsInvalidArgument) {
  const store::Run run = MakeRun(2);
  RunLogFollower follower(*files_, run, std::nullopt);
  for (const std::string bad : {"", "0-0", "0-0-0-0", "0-x-0", "0--1-0", "0-+1-0"}) {
    const Status status = follower.Seek(bad);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(status.message(),
              fmt::format("log cursor '{}' does not fit run r: use the next_cursor of an earlier "
                          "page of the same run and rank",
                          bad));
  }
  RunLogFollower one_rank(*files_, run, 1);
  EXPECT_TRUE(one_rank.Seek("0").ok());
  EXPECT_EQ(one_rank.Seek("0-0").code(), StatusCode::kInvalidArgument);
}

// Bytes that are not UTF-8 (a script printing latin-1) come out with U+FFFD in their place.
TEST_F(RunLogFollowerTest, TextThatIsNotUtf8IsReplaced) {
  const store::Run run = MakeRun(1);
  Append(0, 100, "caf\xe9");
  ASSERT_TRUE(WriteFileAtomically(launch::RunDir(dir_.path()).environment_log(),
                                  "not in the log format \xff\n")
                  .ok());
  RunLogFollower follower(*files_, run, std::nullopt);
  const Result<std::vector<RunLogLine>> lines = follower.ReadNew();
  ASSERT_TRUE(lines.ok());
  EXPECT_EQ(Displays(*lines),
            (std::vector<std::string>{"[environment] not in the log format \xef\xbf\xbd",
                                      "caf\xef\xbf\xbd"}));
}

// A line longer than LogFollower::kMaxLineBytes (a file written by hand) comes in pieces,
// and a page stops at about kLogPageBytes of text.
TEST_F(RunLogFollowerTest, LongLinesComeInPiecesAndPagesStopAtTheirSize) {
  const store::Run run = MakeRun(1);
  const std::size_t piece = LogFollower::kMaxLineBytes;
  const std::string long_line(5 * piece + 10, 'x');
  ASSERT_TRUE(
      WriteFileAtomically(launch::RunDir(dir_.path()).rank_log(0), long_line + "\nend\n").ok());
  RunLogFollower follower(*files_, run, 0);
  const Result<std::vector<RunLogLine>> lines = follower.ReadNew(1000);
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), kLogPageBytes / piece);
  EXPECT_EQ((*lines)[0].line.text.size(), piece);
  EXPECT_TRUE(follower.more());
  const Result<std::vector<RunLogLine>> rest = follower.ReadNew(1000);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ(rest->at(0).line.text, std::string(piece, 'x'));
  EXPECT_EQ(rest->at(1).line.text, std::string(10, 'x'));
  EXPECT_EQ(rest->at(2).line.text, "end");
  EXPECT_FALSE(follower.more());
}

}  // namespace
}  // namespace kiln::client
