#include "launch/rank_log.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/files.h"
#include "common/strings.h"
#include "common/test_dir.h"

namespace kiln::launch {
namespace {

std::vector<std::string> Texts(const std::filesystem::path& path) {
  std::vector<std::string> texts;
  for (const std::string& line : SplitString(*ReadFileToString(path), '\n')) {
    if (auto parsed = ParseLogLine(line)) texts.push_back(parsed->text);
  }
  return texts;
}

TEST(RankLogTest, JoinsPiecesIntoLines) {
  TestDir dir;
  FakeClock clock(1'000'000);
  auto log = RankLog::Open(dir.path() / "rank-0.log", clock);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(log->Write(Stream::kOut, "hel").ok());
  ASSERT_TRUE(log->Write(Stream::kErr, "warn\n").ok());
  ASSERT_TRUE(log->Write(Stream::kOut, "lo\nworld\r\nrest").ok());
  EXPECT_EQ(Texts(dir.path() / "rank-0.log"), (std::vector<std::string>{"warn", "hello", "world"}));
  ASSERT_TRUE(log->FlushAll().ok());
  EXPECT_EQ(Texts(dir.path() / "rank-0.log").back(), "rest");
}

TEST(RankLogTest, StalePartialLinesAreWritten) {
  TestDir dir;
  FakeClock clock(0);
  auto log = RankLog::Open(dir.path() / "rank-0.log", clock);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(log->Write(Stream::kOut, "progress 10%").ok());
  ASSERT_TRUE(log->FlushStale().ok());
  EXPECT_TRUE(Texts(dir.path() / "rank-0.log").empty());
  clock.Advance(RankLog::kPartialFlush);
  ASSERT_TRUE(log->FlushStale().ok());
  EXPECT_EQ(Texts(dir.path() / "rank-0.log"), std::vector<std::string>{"progress 10%"});
}

TEST(RankLogTest, LongLinesAreSplit) {
  TestDir dir;
  FakeClock clock(0);
  auto log = RankLog::Open(dir.path() / "rank-0.log", clock);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(log->Write(Stream::kOut, std::string(RankLog::kMaxLineBytes + 10, 'x') + "\n").ok());
  const auto texts = Texts(dir.path() / "rank-0.log");
  ASSERT_EQ(texts.size(), 2u);
  EXPECT_EQ(texts[0].size(), RankLog::kMaxLineBytes);
  EXPECT_EQ(texts[1].size(), 10u);
}

// The log keeps the bytes as written; the tail, which goes into JSON, is valid UTF-8.
TEST(RankLogTest, TailReplacesWhatIsNotUtf8) {
  TestDir dir;
  FakeClock clock(0);
  auto log = RankLog::Open(dir.path() / "rank-0.log", clock);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE(log->Write(Stream::kOut, "caf\xe9\n").ok());
  EXPECT_EQ(Texts(dir.path() / "rank-0.log"), std::vector<std::string>{"caf\xe9"});
  EXPECT_EQ(log->Tail(), std::vector<std::string>{"caf\xef\xbf\xbd"});
}

TEST(RankLogTest, TailKeepsTheLastTwenty) {
  TestDir dir;
  FakeClock clock(0);
  auto log = RankLog::Open(dir.path() / "rank-0.log", clock);
  ASSERT_TRUE(log.ok());
  for (int i = 1; i <= 25; ++i) ASSERT_TRUE(log->Write(Stream::kOut, fmt::format("{}\n", i)).ok());
  const std::vector<std::string> tail = log->Tail();
  ASSERT_EQ(tail.size(), RankLog::kTailLines);
  EXPECT_EQ(tail.front(), "6");
  EXPECT_EQ(tail.back(), "25");
}

}  // namespace
}  // namespace kiln::launch
