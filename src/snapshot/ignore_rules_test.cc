#include "snapshot/ignore_rules.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/files.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "common/test_dir.h"
#include "snapshot/source_scan.h"

namespace kiln::snapshot {
namespace {
namespace fs = std::filesystem;

TEST(GlobMatchTest, StarsAndClasses) {
  EXPECT_TRUE(GlobMatch("*.py", "train.py"));
  EXPECT_FALSE(GlobMatch("*.py", "a/train.py"));
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_FALSE(GlobMatch("a?c", "a/c"));
  EXPECT_TRUE(GlobMatch("[a-c].tmp", "b.tmp"));
  EXPECT_FALSE(GlobMatch("[!a-c].tmp", "b.tmp"));
  EXPECT_TRUE(GlobMatch("[!a-c].tmp", "d.tmp"));
  EXPECT_TRUE(GlobMatch("\\*literal", "*literal"));
  EXPECT_FALSE(GlobMatch("\\*literal", "xliteral"));
}

TEST(GlobMatchTest, DoubleStars) {
  EXPECT_TRUE(GlobMatch("**/cache", "cache"));
  EXPECT_TRUE(GlobMatch("**/cache", "a/b/cache"));
  EXPECT_TRUE(GlobMatch("data/**/raw", "data/raw"));
  EXPECT_TRUE(GlobMatch("data/**/raw", "data/x/y/raw"));
  EXPECT_FALSE(GlobMatch("data/**/raw", "other/raw"));
  EXPECT_TRUE(GlobMatch("logs/**", "logs/a/b"));
  EXPECT_FALSE(GlobMatch("logs/**", "logs"));
}

TEST(IgnoreRulesTest, LastMatchWinsAndNegationReincludes) {
  IgnoreRules rules;
  rules.AddFile("", "*.log\n!keep.log\n# comment\n\n/build/\nsub/only.txt\n");
  EXPECT_TRUE(rules.IsIgnored("x.log", false));
  EXPECT_TRUE(rules.IsIgnored("deep/x.log", false));
  EXPECT_FALSE(rules.IsIgnored("keep.log", false));
  EXPECT_TRUE(rules.IsIgnored("build", true));
  EXPECT_FALSE(rules.IsIgnored("build", false));     // "build/" matches folders only
  EXPECT_FALSE(rules.IsIgnored("src/build", true));  // anchored to the root
  EXPECT_TRUE(rules.IsIgnored("sub/only.txt", false));
  EXPECT_FALSE(rules.IsIgnored("x/sub/only.txt", false));
}

TEST(IgnoreRulesTest, NestedFilesApplyBelowTheirFolder) {
  IgnoreRules rules;
  rules.AddFile("", "*.bin\n");
  rules.AddFile("models", "!best.bin\n/local.txt\n");
  EXPECT_TRUE(rules.IsIgnored("a.bin", false));
  EXPECT_FALSE(rules.IsIgnored("models/best.bin", false));
  EXPECT_TRUE(rules.IsIgnored("other/best.bin", false));
  EXPECT_TRUE(rules.IsIgnored("models/local.txt", false));
  EXPECT_FALSE(rules.IsIgnored("local.txt", false));
}

TEST(IgnoreRulesTest, EscapesAndTrailingSpaces) {
  IgnoreRules rules;
  rules.AddFile("", "\\#hash\n\\!bang\ntrail   \nkept\\ \n");
  EXPECT_TRUE(rules.IsIgnored("#hash", false));
  EXPECT_TRUE(rules.IsIgnored("!bang", false));
  EXPECT_TRUE(rules.IsIgnored("trail", false));
  EXPECT_TRUE(rules.IsIgnored("kept ", false));
}

// The files a scan keeps must be exactly the files git would add from the same tree.
TEST(IgnoreRulesTest, AgreesWithGit) {
  TestDir dir;
  const fs::path root = dir.path() / "tree";
  const std::vector<std::string> files = {"train.py",
                                          "notes.log",
                                          "keep.log",
                                          "build/out.o",
                                          "src/build/x.c",
                                          "data/raw/a.csv",
                                          "data/x/raw/b.csv",
                                          "data/clean.csv",
                                          "a/cache/c",
                                          "cache",
                                          "doc/a.txt",
                                          "doc/sub/b.txt",
                                          "b.tmp",
                                          "d.tmp",
                                          "#hash",
                                          "models/best.bin",
                                          "models/w.bin",
                                          "models/local.txt",
                                          "local.txt",
                                          "venv/lib/x.py",
                                          "venv/keep.me",
                                          "deep/a/b/c/d.py",
                                          "deep/a/b/c/e.pyc",
                                          "onlydir/f",
                                          "onlydir2",
                                          "space name.txt"};
  for (const std::string& file : files) {
    ASSERT_TRUE(CreateDirectories((root / file).parent_path()).ok());
    ASSERT_TRUE(WriteFileAtomically(root / file, "x").ok());
  }
  ASSERT_TRUE(WriteFileAtomically(root / ".gitignore",
                                  "*.log\n!keep.log\n/build/\ndata/**/raw\n**/cache\n"
                                  "doc/*.txt\n[abc].tmp\n\\#hash\n*.bin\nvenv/\n!venv/keep.me\n"
                                  "*.pyc\nonlydir/\nonlydir2/\n")
                  .ok());
  ASSERT_TRUE(WriteFileAtomically(root / "models/.gitignore", "!best.bin\n/local.txt\n").ok());

  SpawnOptions init;
  init.argv = {"git", "init", "-q", root.string()};
  const auto init_run = RunAndCapture(init, std::chrono::seconds(30));
  ASSERT_TRUE(init_run.ok() && init_run->exit.success()) << "git init failed";
  SpawnOptions list;
  list.argv = {"git", "-C", root.string(), "ls-files", "--others", "--exclude-standard", "-z"};
  const auto listed = RunAndCapture(list, std::chrono::seconds(30));
  ASSERT_TRUE(listed.ok() && listed->exit.success()) << "git ls-files failed";
  std::vector<std::string> git_files = SplitString(listed->out, '\0');
  git_files.erase(std::remove(git_files.begin(), git_files.end(), ""), git_files.end());
  std::sort(git_files.begin(), git_files.end());

  const Result<SourceScan> scan = ScanSource(root);
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  std::vector<std::string> ours;
  for (const SourceFile& file : scan->files) ours.push_back(file.path);
  EXPECT_EQ(ours, git_files);
}

}  // namespace
}  // namespace kiln::snapshot
