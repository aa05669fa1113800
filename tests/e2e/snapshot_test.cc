// Snapshots end to end: a run executes from its own copy of the source, ignore files are
// honoured, `kiln snapshot` restores the code, and a folder over the limit is refused.

#include "common/files.h"
#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {
namespace fs = std::filesystem;

class SnapshotTest : public KilnTest {};

TEST_F(SnapshotTest, RunsUseTheirOwnCopyOfTheSource) {
  const auto project = Project(
      "proj", {{"train.py",
                "import time, pathlib\ntime.sleep(1)\nprint(pathlib.Path('v.txt').read_text())\n"},
               {"v.txt", "version one"},
               {"data/big.bin", "ignored"},
               {"notes.log", "ignored too"},
               {".kilnignore", "data/\n*.log\n"}});
  const std::string id =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  // Editing the source after submit changes neither the running nor the past run.
  ASSERT_TRUE(WriteFileAtomically(project / "v.txt", "version two").ok());
  ASSERT_TRUE(WaitForStatus(id, "Completed"));
  EXPECT_EQ(Kiln({"logs", id}).out, "version one\n");
  EXPECT_FALSE(fs::exists(RunDir(id) / "src/data"));
  EXPECT_FALSE(fs::exists(RunDir(id) / "src/notes.log"));

  const fs::path restored = root() / "restored";
  const CapturedRun restore = Kiln({"snapshot", id, "-o", restored.string()});
  ASSERT_EQ(restore.exit.code, 0) << restore.err;
  EXPECT_EQ(*ReadFileToString(restored / "v.txt"), "version one");
  EXPECT_TRUE(fs::exists(restored / ".kilnignore"));
  EXPECT_FALSE(fs::exists(restored / "data"));
  const CapturedRun again = Kiln({"snapshot", id, "-o", restored.string()});
  EXPECT_EQ(again.exit.code, 5);

  // Unchanged content is stored once: a second run of v2 adds only v.txt's new bytes.
  const CapturedRun second = Kiln(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  ASSERT_EQ(second.exit.code, 0);
  EXPECT_NE(second.err.find("11 B new"), std::string::npos) << second.err;
  EXPECT_EQ(Kiln({"logs", FirstLine(second.out)}).out, "version two\n");
}

TEST_F(SnapshotTest, IgnoredEntryScriptIsRefused) {
  const auto project = Project("proj", {{"train.py", "print(1)\n"}, {".gitignore", "*.py\n"}});
  const CapturedRun run =
      Kiln({"submit", "--source-directory", project.string(), "--entry-script", "train.py"});
  EXPECT_EQ(run.exit.code, 2);
  EXPECT_NE(run.err.find("--entry-script: 'train.py' is excluded from the snapshot by an ignore "
                         "file"),
            std::string::npos)
      << run.err;
}

TEST_F(SnapshotTest, OversizedSourceIsRefusedWithWhatToIgnore) {
  std::map<std::string, std::string> files = {{"train.py", "print(1)\n"}};
  for (int i = 0; i < 30; ++i)
    files["checkpoints/c" + std::to_string(i)] = std::string(40'000, 'x');
  const auto project = Project("proj", files);
  const CapturedRun run =
      Kiln({"submit", "--source-directory", project.string(), "--entry-script", "train.py"},
           {{"KILN_SNAPSHOT_MAX_MB", "1"}});
  EXPECT_EQ(run.exit.code, 2);
  EXPECT_NE(run.err.find("--source-directory: '" + project.string() +
                         "' is too large to snapshot: 1.2 MB in 31 files; the limit is 1.0 MB"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("  checkpoints/"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find((project / ".kilnignore").string()), std::string::npos);
  const CapturedRun files_limit =
      Kiln({"submit", "--source-directory", project.string(), "--entry-script", "train.py"},
           {{"KILN_SNAPSHOT_MAX_FILES", "10"}});
  EXPECT_EQ(files_limit.exit.code, 2);
  EXPECT_TRUE(KilnJson({"runs", "--json"}).empty());
  EXPECT_FALSE(fs::exists(home() / "runs"));
}

}  // namespace
}  // namespace kiln::e2e
