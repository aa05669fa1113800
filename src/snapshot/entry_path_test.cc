#include "snapshot/entry_path.h"

#include <gtest/gtest.h>

#include "snapshot/ignore_rules.h"

namespace kiln::snapshot {
namespace {

TEST(EntryPathTest, TextMustBeUtf8WithoutControlCharacters) {
  EXPECT_EQ(TextProblem("caf\xC3\xA9.txt"), std::nullopt);     // é in UTF-8
  EXPECT_EQ(TextProblem("\xF0\x9F\x94\xA5/x"), std::nullopt);  // a 4-byte sequence
  EXPECT_EQ(TextProblem("caf\xE9.txt"), "byte 0xE9 at offset 3 is not valid UTF-8");  // latin-1
  EXPECT_EQ(TextProblem("\xC0\xAF"), "byte 0xC0 at offset 0 is not valid UTF-8");  // overlong '/'
  EXPECT_EQ(TextProblem("ab\xED\xA0\x80"),
            "byte 0xED at offset 2 is not valid UTF-8");  // surrogate
  EXPECT_EQ(TextProblem("\xF4\x90\x80\x80"), "byte 0xF4 at offset 0 is not valid UTF-8");
  EXPECT_EQ(TextProblem("x\xC3"), "byte 0xC3 at offset 1 is not valid UTF-8");  // cut short
  EXPECT_EQ(TextProblem("a\nb"), "it holds the control character 0x0A at offset 1");
  EXPECT_EQ(TextProblem(std::string("a\0b", 3)), "it holds the control character 0x00 at offset 1");
  EXPECT_EQ(TextProblem("del\x7F"), "it holds the control character 0x7F at offset 3");
}

TEST(EntryPathTest, PathsStayInsideTheSnapshot) {
  for (const char* good : {"train.py", "a/b/c.py", ".hidden", "a/..b", "...", "x\\y"}) {
    EXPECT_EQ(EntryPathProblem(good), std::nullopt) << good;
  }
  EXPECT_EQ(EntryPathProblem(""), "it is empty");
  EXPECT_EQ(EntryPathProblem("/etc/passwd"),
            "it is absolute; entry paths are relative to the snapshot");
  EXPECT_EQ(EntryPathProblem("../x"), "it has a '..' component; entries stay inside the snapshot");
  EXPECT_EQ(EntryPathProblem("a/../../x"),
            "it has a '..' component; entries stay inside the snapshot");
  EXPECT_EQ(EntryPathProblem("a/./b"), "it has a '.' component; entries stay inside the snapshot");
  EXPECT_EQ(EntryPathProblem("."), "it has a '.' component; entries stay inside the snapshot");
  EXPECT_EQ(EntryPathProblem("a//b"), "it has an empty component ('//' or a trailing '/')");
  EXPECT_EQ(EntryPathProblem("a/"), "it has an empty component ('//' or a trailing '/')");
  EXPECT_EQ(EntryPathProblem("a/\x1B[2Jb"), "it holds the control character 0x1B at offset 2");
  EXPECT_EQ(EntryPathProblem(std::string(256, 'n')),
            "a component is 256 bytes long; the most is 255");
  std::string deep;
  for (std::size_t i = 0; i <= kMaxPathDepth; ++i) deep += "d/";
  deep += "f";
  EXPECT_EQ(EntryPathProblem(deep), "it is more than 256 folders deep");
  std::string long_path;
  while (long_path.size() <= kMaxPathBytes) long_path += std::string(200, 'p') + "/";
  long_path += "f";
  EXPECT_EQ(EntryPathProblem(long_path),
            "it is " + std::to_string(long_path.size()) + " bytes long; the most is 4095");
}

TEST(EntryPathTest, MessagesShowOddBytesEscaped) {
  EXPECT_EQ(EscapeForMessage("caf\xE9.txt"), "caf\\xE9.txt");
  EXPECT_EQ(EscapeForMessage("a\nb\\c"), "a\\x0Ab\\\\c");
  EXPECT_EQ(EscapeForMessage("caf\xC3\xA9"), "caf\xC3\xA9");
}

// The suggested ignore line leaves out exactly the path it was made for.
TEST(EntryPathTest, IgnoreLineMatchesOnlyItsPath) {
  const std::string odd = "data/caf\xE9 [1]*.csv";
  EXPECT_EQ(IgnoreLineFor(odd, false), "/data/caf? \\[1]\\*.csv");
  IgnoreRules rules;
  rules.AddPattern("", IgnoreLineFor(odd, false));
  EXPECT_TRUE(rules.IsIgnored(odd, false));
  EXPECT_FALSE(rules.IsIgnored("data/cafe [1]x.csv", false));
  EXPECT_FALSE(rules.IsIgnored("other/" + odd, false));

  IgnoreRules folders;
  folders.AddPattern("", IgnoreLineFor("r\xE9sultats", true));
  EXPECT_EQ(IgnoreLineFor("r\xE9sultats", true), "/r?sultats/");
  EXPECT_TRUE(folders.IsIgnored("r\xE9sultats", true));
  EXPECT_FALSE(folders.IsIgnored("r\xE9sultats", false));

  IgnoreRules trailing;
  trailing.AddPattern("", IgnoreLineFor("name ", false));
  EXPECT_TRUE(trailing.IsIgnored("name ", false));
  EXPECT_FALSE(trailing.IsIgnored("name", false));
}

}  // namespace
}  // namespace kiln::snapshot
