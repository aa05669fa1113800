// The script's logs/ folder (TensorBoard's convention) kept like outputs/: listed,
// downloaded, and served by a server byte for byte; a source's own logs/ is left out of the
// snapshot unless its .kilnignore keeps it.

#include <fmt/format.h>

#include "common/files.h"
#include "e2e/server_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Writes an event file of every byte value (as a TensorBoard writer's binary records would
// be) and a text file under logs/, and one artifact.
constexpr const char* kWriter = R"(import os
os.makedirs("logs/tb", exist_ok=True)
with open("logs/tb/events.out.tfevents.1.host", "wb") as f:
    f.write(bytes(range(256)) * 4)
open("logs/notes.txt", "w").write("epoch 1\n")
open("outputs/model.pt", "w").write("weights")
print("logs holds", sorted(os.listdir("logs")), flush=True)
)";

std::string EveryByte() {
  std::string bytes;
  for (int copy = 0; copy < 4; ++copy) {
    for (int value = 0; value < 256; ++value) bytes.push_back(static_cast<char>(value));
  }
  return bytes;
}

class ScriptLogsTest : public ServerTest {};

TEST_F(ScriptLogsTest, KeptListedAndDownloadedLikeOutputs) {
  // The source has a logs/ of its own, from an earlier local run: not part of the snapshot.
  const fs::path project =
      Project("proj", {{"train.py", kWriter}, {"logs/stale/old.tfevents", "old"}});
  const CapturedRun run = Kiln(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  ASSERT_EQ(run.exit.code, 0) << run.err;
  EXPECT_NE(run.err.find("1 files"), std::string::npos) << run.err;
  const std::string id = FirstLine(run.out);
  EXPECT_NE(Kiln({"logs", id}).out.find("logs holds ['notes.txt', 'tb']"), std::string::npos);

  const json listed = KilnJson({"artifacts", id, "--json"});
  ASSERT_EQ(listed.size(), 3u) << listed.dump();
  EXPECT_EQ(listed[0]["name"], "logs/notes.txt");
  EXPECT_EQ(listed[1]["name"], "logs/tb/events.out.tfevents.1.host");
  EXPECT_EQ(listed[1]["size"], 1024);
  EXPECT_EQ(listed[2]["name"], "outputs/model.pt");

  // The whole folder lands as logs/, one subfolder as its own name.
  const fs::path all = root() / "all";
  ASSERT_EQ(Kiln({"download", id, "logs", "-o", all.string()}).exit.code, 0);
  EXPECT_EQ(*ReadFileToString(all / "logs/tb/events.out.tfevents.1.host"), EveryByte());
  EXPECT_EQ(*ReadFileToString(all / "logs/notes.txt"), "epoch 1\n");
  const fs::path tb = root() / "tb";
  ASSERT_EQ(Kiln({"download", id, "logs/tb", "-o", tb.string()}).exit.code, 0);
  EXPECT_TRUE(fs::is_regular_file(tb / "tb/events.out.tfevents.1.host"));
  // Kiln's own logs of the ranks are not artifacts, and nothing outside is reached.
  const CapturedRun outside = Kiln({"download", id, "logs/../plan.json", "-o", tb.string()});
  EXPECT_EQ(outside.exit.code, 2);
  EXPECT_NE(outside.err.find("artifacts are under outputs/ and logs/"), std::string::npos)
      << outside.err;
  EXPECT_FALSE(fs::exists(RunDir(id) / "script-logs/stale"));

  // A .kilnignore that keeps logs/ keeps it in the snapshot: the run then writes into that
  // copy, no link is made, and the source's files are the run's to read.
  const fs::path kept =
      Project("kept", {{"train.py", "print(open('logs/stale/old.tfevents').read())\n"},
                       {"logs/stale/old.tfevents", "old"},
                       {".kilnignore", "!/logs/\n"}});
  const std::string kept_id =
      SubmitOk({"--source-directory", kept.string(), "--entry-script", "train.py", "--wait"});
  EXPECT_NE(Kiln({"logs", kept_id}).out.find("old"), std::string::npos);
  EXPECT_FALSE(fs::is_symlink(RunDir(kept_id) / "src/logs"));
}

TEST_F(ScriptLogsTest, AServerServesThemByteForByte) {
  StartServer();
  const fs::path project = Project("proj", {{"train.py", kWriter}});
  const CapturedRun run = Client(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  ASSERT_EQ(run.exit.code, 0) << run.err << ServerLog();
  const std::string id = FirstLine(run.out);
  const json listed = BodyOf(Http().Get("/v1/runs/" + id + "/artifacts"));
  ASSERT_EQ(listed["artifacts"].size(), 3u) << listed.dump();
  const auto event = Http().Get("/v1/runs/" + id + "/artifacts/logs/tb/events.out.tfevents.1.host");
  ASSERT_EQ(event->status, 200);
  EXPECT_EQ(event->body, EveryByte());
  // A client of the server downloads the folder as the embedded store does.
  const fs::path all = root() / "all";
  const CapturedRun downloaded = Client({"download", id, "logs", "-o", all.string()});
  ASSERT_EQ(downloaded.exit.code, 0) << downloaded.err;
  EXPECT_EQ(*ReadFileToString(all / "logs/tb/events.out.tfevents.1.host"), EveryByte());
}

}  // namespace
}  // namespace kiln::e2e
