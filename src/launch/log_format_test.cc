#include "launch/log_format.h"

#include <gtest/gtest.h>

namespace kiln::launch {
namespace {

TEST(LogFormatTest, RoundTrip) {
  const Timestamp t = 1'764'580'353'123'456;
  const std::string line = FormatLogLine(t, Stream::kErr, "Traceback: x");
  EXPECT_EQ(line, "2025-12-01T09:12:33.123456Z err Traceback: x\n");
  const auto parsed = ParseLogLine(line);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->at, t);
  EXPECT_EQ(parsed->stream, Stream::kErr);
  EXPECT_EQ(parsed->text, "Traceback: x");
}

TEST(LogFormatTest, EmptyTextAndForeignLines) {
  const auto empty = ParseLogLine(FormatLogLine(0, Stream::kOut, ""));
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->text, "");
  EXPECT_FALSE(ParseLogLine("hello world").has_value());
  EXPECT_FALSE(ParseLogLine("2025-12-01T09:12:33.123456Z xyz text").has_value());
}

}  // namespace
}  // namespace kiln::launch
