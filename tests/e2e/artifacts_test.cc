// A run's outputs/ as artifacts: listing and downloading, and nothing outside it.

#include "common/files.h"
#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {
namespace fs = std::filesystem;

class ArtifactsTest : public KilnTest {};

constexpr const char* kWriter = R"(import os
os.makedirs('outputs/ckpt', exist_ok=True)
open('outputs/model.pt', 'w').write('weights')
open('outputs/ckpt/epoch1.pt', 'w').write('e1')
os.symlink('/etc/passwd', 'outputs/escape')
)";

TEST_F(ArtifactsTest, ListAndDownload) {
  const auto project = Project("proj", {{"train.py", kWriter}});
  const CapturedRun run = Kiln(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  ASSERT_EQ(run.exit.code, 0) << run.err;
  const std::string id = FirstLine(run.out);

  const nlohmann::json listed = KilnJson({"artifacts", id, "--json"});
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0]["name"], "outputs/ckpt/epoch1.pt");
  EXPECT_EQ(listed[1]["name"], "outputs/model.pt");
  EXPECT_EQ(listed[1]["size"], 7);

  const fs::path one = root() / "one";
  ASSERT_EQ(Kiln({"download", id, "outputs/model.pt", "-o", one.string()}).exit.code, 0);
  EXPECT_EQ(*ReadFileToString(one / "model.pt"), "weights");

  const fs::path all = root() / "all";
  const CapturedRun everything = Kiln({"download", id, "-o", all.string()});
  EXPECT_EQ(everything.exit.code, 0) << everything.err;
  EXPECT_EQ(*ReadFileToString(all / "outputs/model.pt"), "weights");
  EXPECT_FALSE(fs::exists(fs::symlink_status(all / "outputs/escape")));
  const CapturedRun escape = Kiln({"download", id, "outputs/escape", "-o", all.string()});
  EXPECT_EQ(escape.exit.code, 2);
  EXPECT_EQ(escape.err,
            "error: 'outputs/escape' leads outside the run's outputs; it is not downloaded\n");

  const fs::path folder = root() / "folder";
  ASSERT_EQ(Kiln({"download", id, "outputs/ckpt", "-o", folder.string()}).exit.code, 0);
  EXPECT_EQ(*ReadFileToString(folder / "ckpt/epoch1.pt"), "e1");
}

TEST_F(ArtifactsTest, PathsOutsideOutputsAreRefused) {
  const auto project = Project("proj", {{"train.py", "print(1)\n"}});
  const CapturedRun run = Kiln(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
  const std::string id = FirstLine(run.out);
  for (const std::string path :
       {"../kiln.db", "outputs/../../kiln.db", "plan.json", "/etc/passwd"}) {
    const CapturedRun download = Kiln({"download", id, path, "-o", (root() / "x").string()});
    EXPECT_EQ(download.exit.code, 2) << path;
    EXPECT_NE(download.err.find("is not an artifact"), std::string::npos) << download.err;
  }
  EXPECT_EQ(Kiln({"download", id, "outputs/none.pt", "-o", (root() / "x").string()}).exit.code, 3);
}

}  // namespace
}  // namespace kiln::e2e
