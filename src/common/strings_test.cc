#include "common/strings.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(StringsTest, Split) {
  EXPECT_EQ(SplitString("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(SplitString("", ','), (std::vector<std::string>{""}));
}

TEST(StringsTest, EditDistance) {
  EXPECT_EQ(EditDistance("node_count", "node_count"), 0);
  EXPECT_EQ(EditDistance("node_cout", "node_count"), 1);
  EXPECT_EQ(EditDistance("", "abc"), 3);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
}

TEST(StringsTest, ClosestMatchSuggestsTyposOnly) {
  const std::string_view fields[] = {"node_count", "entry_script", "use_gpu"};
  EXPECT_EQ(ClosestMatch("node_cout", fields), "node_count");
  EXPECT_EQ(ClosestMatch("entry_scrpt", fields), "entry_script");
  EXPECT_EQ(ClosestMatch("banana", fields), std::nullopt);
}

TEST(StringsTest, HumanBytesAndCounts) {
  EXPECT_EQ(HumanBytes(17), "17 B");
  EXPECT_EQ(HumanBytes(300'000'000), "300.0 MB");
  EXPECT_EQ(HumanBytes(1'500'000'000), "1.5 GB");
  EXPECT_EQ(HumanCount(0), "0");
  EXPECT_EQ(HumanCount(2000), "2,000");
  EXPECT_EQ(HumanCount(1234567), "1,234,567");
}

TEST(StringsTest, ParseInt64IsStrict) {
  EXPECT_EQ(ParseInt64("42"), 42);
  EXPECT_EQ(ParseInt64("-3"), -3);
  EXPECT_EQ(ParseInt64("+3"), 3);
  EXPECT_EQ(ParseInt64("4x"), std::nullopt);
  EXPECT_EQ(ParseInt64(" 4"), std::nullopt);
  EXPECT_EQ(ParseInt64(""), std::nullopt);
}

TEST(StringsTest, ShellQuote) {
  EXPECT_EQ(ShellQuote("plain/path.py"), "plain/path.py");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
}

TEST(StringsTest, FirstInvalidUtf8FindsTheOffendingByte) {
  EXPECT_EQ(FirstInvalidUtf8(""), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("plain"), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5"), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("caf\xe9"), 3u);           // latin-1 e-acute
  EXPECT_EQ(FirstInvalidUtf8("ab\xc3"), 2u);            // cut short
  EXPECT_EQ(FirstInvalidUtf8("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("x\xed\xa0\x80"), 1u);     // a surrogate
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("ok\x80"), 2u);            // a lone continuation byte
  EXPECT_EQ(FirstInvalidUtf8("\xe2\x82x"), 0u);
}

TEST(StringsTest, ValidUtf8ReplacesWhatIsNotUtf8) {
  EXPECT_EQ(ValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5");
  EXPECT_EQ(ValidUtf8("caf\xe9\n"), "caf\xef\xbf\xbd\n");        // latin-1
  EXPECT_EQ(ValidUtf8("\x80x"), "\xef\xbf\xbdx");                // stray continuation
  EXPECT_EQ(ValidUtf8("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd");  // truncated
  EXPECT_EQ(ValidUtf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong
  EXPECT_EQ(ValidUtf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  EXPECT_EQ(ValidUtf8("\xf4\x90\x80\x80").size(), 12u);                          // past U+10FFFF
  EXPECT_EQ(ValidUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));
}

}  // namespace
}  // namespace kiln
