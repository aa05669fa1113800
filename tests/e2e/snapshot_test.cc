// Snapshots end to end: a run executes from its own copy of the source, ignore files are
// honoured, `kiln snapshot` restores the code, a folder over the limit or with a name that is
// not UTF-8 is refused, and a server refuses hostile manifests sent over REST.

#include "common/files.h"
#include "common/sha256.h"
#include "e2e/kiln_fixture.h"
#include "e2e/server_fixture.h"

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

// A script that changes its own source files in every way a file changes (write, truncate,
// rename, chmod, remove) changes neither the snapshot nor the next run of it, however the
// run's files share the snapshot's (a reflink where the filesystem has them).
TEST_F(SnapshotTest, AScriptChangingItsSourceChangesNeitherTheSnapshotNorAnotherRun) {
  const std::string check = R"(import os, stat
print(open('a.txt').read(), open('b.txt').read(), open('c.txt').read(),
      oct(stat.S_IMODE(os.stat('d.sh').st_mode)), os.path.exists('e.txt'), flush=True)
)";
  const std::string vandal = check + R"(
with open('a.txt', 'r+') as f:
    f.write('XX')
open('b.txt', 'w').close()
os.rename('c.txt', 'c-moved.txt')
open('c.txt', 'w').write('new c')
os.chmod('d.sh', 0o777)
os.remove('e.txt')
print(open('a.txt').read(), flush=True)
)";
  const auto project = Project("proj", {{"vandal.py", vandal},
                                        {"check.py", check},
                                        {"a.txt", "aaaa"},
                                        {"b.txt", "bbbb"},
                                        {"c.txt", "cccc"},
                                        {"d.sh", "echo d\n"},
                                        {"e.txt", "eeee"}});
  fs::permissions(project / "d.sh", fs::perms(0755));
  const std::string changed =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "vandal.py", "--wait"});
  EXPECT_EQ(Kiln({"logs", changed}).out, "aaaa bbbb cccc 0o755 True\nXXaa\n");
  const std::string after =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "check.py", "--wait"});
  EXPECT_EQ(Kiln({"logs", after}).out, "aaaa bbbb cccc 0o755 True\n");
  const fs::path restored = root() / "restored";
  ASSERT_EQ(Kiln({"snapshot", changed, "-o", restored.string()}).exit.code, 0);
  for (const auto& [name, text] : {std::pair{"a.txt", "aaaa"}, std::pair{"b.txt", "bbbb"},
                                   std::pair{"c.txt", "cccc"}, std::pair{"e.txt", "eeee"}}) {
    EXPECT_EQ(*ReadFileToString(restored / name), text) << name;
  }
  EXPECT_EQ(fs::status(restored / "d.sh").permissions() & fs::perms::all, fs::perms(0755));
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

// A latin-1 byte in a file name used to abort `kiln submit` (an exception from the JSON
// library) and leave a runs/<id>/ folder behind.
TEST_F(SnapshotTest, NamesThatAreNotUtf8AreRefusedAndNothingIsMade) {
  const auto project = Project("proj", {{"train.py", "print(1)\n"}, {"caf\xE9.txt", "x"}});
  const std::vector<std::string> submit = {"submit", "--source-directory", project.string(),
                                           "--entry-script", "train.py"};
  const CapturedRun run = Kiln(submit);
  EXPECT_EQ(run.exit.code, 2) << run.err;
  EXPECT_EQ(run.err, "error: --source-directory: 'caf\\xE9.txt' in " + project.string() +
                         " cannot be snapshotted: byte 0xE9 at offset 3 is not valid UTF-8; "
                         "rename it, or add the line '/caf?.txt' to " +
                         (project / ".kilnignore").string() + "\n");
  EXPECT_TRUE(KilnJson({"runs", "--json"}).empty());
  EXPECT_FALSE(fs::exists(home() / "runs"));
  EXPECT_FALSE(fs::exists(home() / "snapshots/manifests"));

  // The suggested line is the way out.
  ASSERT_TRUE(WriteFileAtomically(project / ".kilnignore", "/caf?.txt\n").ok());
  const CapturedRun again = Kiln(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  EXPECT_EQ(again.exit.code, 0) << again.err;
}

class SnapshotServerTest : public ServerTest {
 protected:
  // POST /v1/snapshots with `manifest` as the manifest's text.
  httplib::Result Offer(const std::string& manifest) {
    return Http().Post("/v1/snapshots", nlohmann::json{{"manifest", manifest}}.dump(),
                       "application/json");
  }

  // Files (objects, manifests, anything) in the server's snapshot store.
  std::size_t StoredFiles() const {
    std::size_t count = 0;
    std::error_code error;
    for (const auto& entry : fs::recursive_directory_iterator(server_home() / "snapshots", error)) {
      if (!entry.is_directory()) ++count;
    }
    return count;
  }
};

std::string FileEntry(const std::string& path, const std::string& sha256, std::uint64_t size) {
  return nlohmann::json{
      {"executable", false}, {"path", path}, {"sha256", sha256}, {"size", size}, {"type", "file"}}
      .dump();
}
std::string LinkEntry(const std::string& path, const std::string& target) {
  return nlohmann::json{{"path", path}, {"target", target}, {"type", "symlink"}}.dump();
}
std::string ManifestText(const std::vector<std::string>& entries) {
  std::string text = R"({"entries":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) text += (i > 0 ? "," : "") + entries[i];
  return text + R"(],"version":1})";
}

TEST_F(SnapshotServerTest, HostileManifestsAreRefusedAndLeaveNothing) {
  StartServer();
  const std::string sha = Sha256::HexOf("x");
  std::vector<std::string> many;
  for (int i = 0; i < 2001; ++i) many.push_back(LinkEntry("l" + std::to_string(10000 + i), "x"));
  struct Case {
    std::string manifest;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {ManifestText({FileEntry("a.py", std::string(64, 'A'), 1)}), 400,
       "entries[0] 'a.py': sha256 '" + std::string(64, 'A') + "' is not 64 lowercase hex digits"},
      {ManifestText({FileEntry("a.py", "../../../../../etc/passwd", 1)}), 400,
       "entries[0] 'a.py': sha256 '../../../../../etc/passwd' is not 64 lowercase hex digits"},
      {ManifestText({FileEntry("../escape.py", sha, 1)}), 400,
       "entries[0] '../escape.py': it has a '..' component"},
      {ManifestText({FileEntry("/etc/cron.d/kiln", sha, 1)}), 400,
       "entries[0] '/etc/cron.d/kiln': it is absolute"},
      {ManifestText({LinkEntry("lib", "/etc"), FileEntry("lib/cron", sha, 1)}), 400,
       "entries[1] 'lib/cron': lies below the symlink 'lib'"},
      {ManifestText({FileEntry("a.py", sha, 1), FileEntry("a.py", sha, 1)}), 400,
       "entries[1] 'a.py': the path appears twice"},
      {ManifestText({FileEntry(std::string("a\0b", 3), sha, 1)}), 400,
       "entries[0] 'a\\x00b': it holds the control character 0x00"},
      {ManifestText({FileEntry("outputs/model.pt", sha, 1)}), 400,
       "entries[0] 'outputs/model.pt': 'outputs' at the top is the run's artifact folder"},
      {ManifestText({R"({"executable":false,"path":"a.py","sha256":")" + sha +
                     R"(","size":-1,"type":"file"})"}),
       400, "entries[0] 'a.py': needs 'size': a whole number of bytes, 0 or more (got -1)"},
      {ManifestText({R"({"executable":true,"mode":3565,"path":"a.py","sha256":")" + sha +
                     R"(","size":1,"type":"file"})"}),
       400, "entries[0] 'a.py': a file entry has no 'mode'"},
      {ManifestText(many), 413, "the snapshot holds 0 B in 2,001 files"},
      {ManifestText({FileEntry("big.bin", sha, 400'000'000)}), 413,
       "the snapshot holds 400.0 MB in 1 file (the largest 'big.bin', 400.0 MB); the limit is "
       "300.0 MB and 2,000 files"},
  };
  for (const Case& c : cases) {
    const httplib::Result answer = Offer(c.manifest);
    ASSERT_TRUE(answer) << c.manifest;
    EXPECT_EQ(answer->status, c.status) << answer->body;
    const nlohmann::json body = BodyOf(answer);
    EXPECT_FALSE(body.contains("missing")) << answer->body;
    const std::string message = body["error"]["message"].is_string()
                                    ? body["error"]["message"].get<std::string>()
                                    : answer->body;
    EXPECT_NE(message.find(c.message), std::string::npos)
        << "wanted: " << c.message << "\ngot:    " << message;
    EXPECT_EQ(StoredFiles(), 0u) << c.manifest.substr(0, 200);
  }
  // A submit naming such a snapshot finds none.
  EXPECT_EQ(
      Http()
          .Post("/v1/runs", R"({"spec": {"entry_script": "a.py"}, "snapshot_id": "../../kiln.db"})",
                "application/json")
          ->status,
      400);

  // A size that does not match the contents sent: refused when the manifest would be stored.
  const auto put = Http().Put("/v1/snapshots/objects/" + sha, "x", "application/octet-stream");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;
  const httplib::Result wrong_size = Offer(ManifestText({FileEntry("a.py", sha, 5)}));
  ASSERT_TRUE(wrong_size);
  EXPECT_EQ(wrong_size->status, 400) << wrong_size->body;
  EXPECT_EQ(BodyOf(wrong_size)["error"]["message"],
            "snapshot manifest entries[0] 'a.py': its size is 5, but its contents (" + sha +
                ") are 1 bytes");
  EXPECT_EQ(StoredFiles(), 1u);  // the object alone

  // A link that points outside is kept as a link (never followed): accepted.
  const httplib::Result link = Offer(ManifestText({LinkEntry("data", "/datasets/x")}));
  ASSERT_TRUE(link);
  EXPECT_EQ(link->status, 200) << link->body;
  EXPECT_EQ(BodyOf(link)["id"].get<std::string>().size(), 64u) << link->body;
  EXPECT_EQ(StoredFiles(), 2u);
}

// The client's source with a name the server would refuse never leaves the client.
TEST_F(SnapshotServerTest, ClientRefusesNamesThatAreNotUtf8) {
  StartServer();
  const auto project = Project("proj", {{"train.py", "print(1)\n"}, {"d/\xFF", "x"}});
  const CapturedRun run =
      Client({"submit", "--source-directory", project.string(), "--entry-script", "train.py"});
  EXPECT_EQ(run.exit.code, 2) << run.err;
  EXPECT_NE(run.err.find("'d/\\xFF' in " + project.string() +
                         " cannot be snapshotted: byte 0xFF at offset 2 is not valid UTF-8"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(StoredFiles(), 0u);
  EXPECT_FALSE(fs::exists(server_home() / "runs") && !fs::is_empty(server_home() / "runs"));
}

}  // namespace
}  // namespace kiln::e2e
