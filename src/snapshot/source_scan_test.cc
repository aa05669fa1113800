#include "snapshot/source_scan.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "common/files.h"
#include "common/test_dir.h"

namespace kiln::snapshot {
namespace {
namespace fs = std::filesystem;

void Write(const fs::path& path, std::size_t bytes) {
  ASSERT_TRUE(CreateDirectories(path.parent_path()).ok());
  ASSERT_TRUE(WriteFileAtomically(path, std::string(bytes, 'x')).ok());
}

std::vector<std::string> Paths(const SourceScan& scan) {
  std::vector<std::string> paths;
  for (const SourceFile& file : scan.files) paths.push_back(file.path);
  return paths;
}

TEST(SourceScanTest, SkipsGitOutputsAndIgnoredFiles) {
  TestDir dir;
  Write(dir.path() / "train.py", 10);
  Write(dir.path() / ".git/config", 10);
  Write(dir.path() / "outputs/model.pt", 10);
  Write(dir.path() / "lib/outputs/kept.txt", 10);
  Write(dir.path() / "data/big.bin", 10);
  Write(dir.path() / "notes.tmp", 10);
  ASSERT_TRUE(WriteFileAtomically(dir.path() / ".kilnignore", "data/\n").ok());
  ASSERT_TRUE(WriteFileAtomically(dir.path() / ".gitignore", "*.py\n").ok());  // unused
  fs::create_symlink("train.py", dir.path() / "link.py");
  ::mkfifo((dir.path() / "pipe").c_str(), 0644);

  const Result<SourceScan> scan = ScanSource(dir.path());
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  EXPECT_EQ(Paths(*scan),
            (std::vector<std::string>{".gitignore", ".kilnignore", "lib/outputs/kept.txt",
                                      "link.py", "notes.tmp", "train.py"}));
  EXPECT_EQ(scan->files[3].kind, EntryKind::kSymlink);
  EXPECT_EQ(scan->files[3].link_target, "train.py");
}

TEST(SourceScanTest, GitignoreIsUsedWithoutKilnignore) {
  TestDir dir;
  Write(dir.path() / "train.py", 1);
  Write(dir.path() / "skip.log", 1);
  ASSERT_TRUE(WriteFileAtomically(dir.path() / ".gitignore", "*.log\n").ok());
  const Result<SourceScan> scan = ScanSource(dir.path());
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(Paths(*scan), (std::vector<std::string>{".gitignore", "train.py"}));
}

TEST(SourceScanTest, RecordsExecutableBitAndSizes) {
  TestDir dir;
  Write(dir.path() / "run", 3);
  ::chmod((dir.path() / "run").c_str(), 0755);
  Write(dir.path() / "data.txt", 5);
  const Result<SourceScan> scan = ScanSource(dir.path());
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->total_bytes, 8u);
  EXPECT_FALSE(scan->files[0].executable);  // data.txt
  EXPECT_TRUE(scan->files[1].executable);   // run
}

TEST(SourceScanTest, MissingRootIsNotFound) {
  EXPECT_EQ(ScanSource("/kiln/missing/source").status().code(), StatusCode::kNotFound);
}

TEST(SourceScanTest, LimitsReportLargestEntriesAndHowToIgnore) {
  TestDir dir;
  Write(dir.path() / "train.py", 100);
  Write(dir.path() / "data/a.bin", 3000);
  Write(dir.path() / "data/b.bin", 2000);
  Write(dir.path() / "venv/x", 500);
  const Result<SourceScan> scan = ScanSource(dir.path());
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(CheckLimits(*scan, {10'000, 10}).ok());

  const Status over = CheckLimits(*scan, {1'000, 10});
  ASSERT_EQ(over.code(), StatusCode::kResourceExhausted);
  const std::string& message = over.message();
  EXPECT_TRUE(message.starts_with("'" + dir.path().string() +
                                  "' is too large to snapshot: 5.6 KB in 4 files; the limit is "
                                  "1.0 KB and 10 files."))
      << message;
  // Largest entries first: data/ then venv/.
  const std::size_t data = message.find("  data/ ");
  const std::size_t venv = message.find("  venv/ ");
  ASSERT_NE(data, std::string::npos) << message;
  ASSERT_NE(venv, std::string::npos) << message;
  EXPECT_LT(data, venv);
  EXPECT_NE(message.find("data/a.bin"), std::string::npos);
  EXPECT_NE(message.find((dir.path() / ".kilnignore").string()), std::string::npos);
  EXPECT_NE(message.find("KILN_SNAPSHOT_MAX_MB"), std::string::npos);
  // Only data/ needs ignoring to fit: neither venv/ nor the script is suggested.
  const std::string suggestions = message.substr(message.find("(gitignore syntax)"));
  EXPECT_NE(suggestions.find("  data/\n"), std::string::npos) << suggestions;
  EXPECT_EQ(suggestions.find("venv/"), std::string::npos) << suggestions;
  EXPECT_EQ(suggestions.find("train.py"), std::string::npos) << suggestions;

  const Status too_many = CheckLimits(*scan, {1'000'000, 3});
  ASSERT_EQ(too_many.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(too_many.message().find("in 4 files"), std::string::npos);
}

TEST(SourceScanTest, LimitsComeFromTheEnvironment) {
  ::setenv("KILN_SNAPSHOT_MAX_MB", "7", 1);
  ::setenv("KILN_SNAPSHOT_MAX_FILES", "9", 1);
  const Result<SnapshotLimits> limits = LimitsFromEnvironment();
  ASSERT_TRUE(limits.ok());
  EXPECT_EQ(limits->max_bytes, 7'000'000u);
  EXPECT_EQ(limits->max_files, 9u);
  ::setenv("KILN_SNAPSHOT_MAX_FILES", "lots", 1);
  const Result<SnapshotLimits> bad = LimitsFromEnvironment();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "KILN_SNAPSHOT_MAX_FILES: must be an integer >= 1, got 'lots'");
  ::unsetenv("KILN_SNAPSHOT_MAX_MB");
  ::unsetenv("KILN_SNAPSHOT_MAX_FILES");
  const Result<SnapshotLimits> defaults = LimitsFromEnvironment();
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->max_bytes, 300'000'000u);
  EXPECT_EQ(defaults->max_files, 2000u);
}

// A name a manifest cannot hold (JSON is UTF-8) is refused with its path and the way out,
// never a crash; the suggested ignore line works.
TEST(SourceScanTest, NamesThatAreNotUtf8AreRefusedWithWhatToDo) {
  TestDir dir;
  Write(dir.path() / "train.py", 1);
  Write(dir.path() / "data/caf\xE9.csv", 1);  // latin-1, as an old archive unpacks it
  const Result<SourceScan> scan = ScanSource(dir.path());
  EXPECT_EQ(scan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(scan.status().message(),
            "'data/caf\\xE9.csv' in " + dir.path().string() +
                " cannot be snapshotted: byte 0xE9 at offset 8 is not valid UTF-8; rename it, "
                "or add the line '/data/caf?.csv' to " +
                (dir.path() / ".kilnignore").string());

  ASSERT_TRUE(WriteFileAtomically(dir.path() / ".kilnignore", "/data/caf?.csv\n").ok());
  const Result<SourceScan> ignored = ScanSource(dir.path());
  ASSERT_TRUE(ignored.ok()) << ignored.status().ToString();
  EXPECT_EQ(Paths(*ignored), (std::vector<std::string>{".kilnignore", "train.py"}));
}

TEST(SourceScanTest, OddFoldersAndLinkTargetsAreRefusedToo) {
  TestDir dir;
  Write(dir.path() / "r\xE9sultats/a.txt", 1);
  Result<SourceScan> scan = ScanSource(dir.path());
  EXPECT_EQ(scan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(scan.status().message().find("'r\\xE9sultats' in "), std::string::npos)
      << scan.status().message();
  // The folder's suggestion is for a folder; the root's ignore file is .gitignore here.
  ASSERT_TRUE(WriteFileAtomically(dir.path() / ".gitignore", "*.log\n").ok());
  scan = ScanSource(dir.path());
  EXPECT_NE(scan.status().message().find("add the line '/r?sultats/' to " +
                                         (dir.path() / ".gitignore").string()),
            std::string::npos)
      << scan.status().message();
  fs::remove_all(dir.path() / "r\xE9sultats");

  Write(dir.path() / "a\nb.py", 1);  // a newline in a name
  scan = ScanSource(dir.path());
  EXPECT_NE(scan.status().message().find("'a\\x0Ab.py' in " + dir.path().string() +
                                         " cannot be snapshotted: it holds the control "
                                         "character 0x0A at offset 1"),
            std::string::npos)
      << scan.status().message();
  fs::remove(dir.path() / "a\nb.py");

  fs::create_symlink("caf\xE9", dir.path() / "link");
  scan = ScanSource(dir.path());
  EXPECT_NE(scan.status().message().find("'link' in " + dir.path().string() +
                                         " cannot be snapshotted: the link's target: byte 0xE9 "
                                         "at offset 3 is not valid UTF-8"),
            std::string::npos)
      << scan.status().message();
}

}  // namespace
}  // namespace kiln::snapshot
