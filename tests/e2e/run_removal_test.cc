// kiln delete and kiln gc, end to end: records and folders go, shared snapshots stay until
// no run names them, a collection racing submits never takes what a new run needs, and
// through a server a viewer cannot delete and only an admin collects.

#include <fmt/format.h>
#include <utime.h>

#include <atomic>
#include <thread>

#include "common/files.h"
#include "e2e/server_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class RunRemovalTest : public ServerTest {
 protected:
  std::vector<std::string> Job(const fs::path& project) {
    return {"--source-directory", project.string(), "--entry-script", "train.py", "--wait"};
  }
  std::size_t Manifests() {
    std::size_t n = 0;
    std::error_code error;
    for (auto it = fs::directory_iterator(home() / "snapshots/manifests", error);
         !error && it != fs::directory_iterator(); it.increment(error)) {
      ++n;
    }
    return n;
  }
};

TEST_F(RunRemovalTest, DeleteRemovesRecordsAndFolderAndGcWhatNoRunNames) {
  const fs::path project = Project("p", {{"train.py", "print('done')\n"}});
  const std::string first = SubmitOk(Job(project));
  const std::string second = SubmitOk(Job(project));  // the same snapshot
  ASSERT_EQ(Manifests(), 1u);

  const CapturedRun deleted = Kiln({"delete", first});
  ASSERT_EQ(deleted.exit.code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, first + " deleted\n");
  EXPECT_FALSE(fs::exists(RunDir(first)));
  EXPECT_EQ(Kiln({"show", first}).exit.code, 3);
  // The snapshot is still the second run's.
  EXPECT_NE(Kiln({"gc", "--min-age", "0s"}).out.find("removed 0 snapshot(s)"), std::string::npos);
  EXPECT_EQ(Manifests(), 1u);

  // A folder the store no longer knows (a crash between the records and the folder): gc's,
  // once old enough. A folder that does not look like a run's is left alone.
  const fs::path orphan = home() / "runs" / "exp_1_deadbeef";
  fs::create_directories(orphan);
  fs::create_directories(home() / "runs" / "notes");
  ASSERT_TRUE(WriteFileAtomically(orphan / "plan.json", "{}").ok());
  const fs::path stranger = home() / "runs" / "notes";
  ASSERT_TRUE(WriteFileAtomically(stranger / "todo.txt", "keep me").ok());
  EXPECT_NE(Kiln({"gc"}).out.find("removed 0 run folder(s)"), std::string::npos);  // too young
  const CapturedRun dry = Kiln({"gc", "--dry-run", "--min-age", "0s", "--json"});
  ASSERT_EQ(dry.exit.code, 0) << dry.err;
  EXPECT_EQ(json::parse(dry.out)["run_folders"], json::array({"exp_1_deadbeef"}));
  EXPECT_TRUE(fs::exists(orphan));
  const json collected = json::parse(Kiln({"gc", "--min-age", "0s", "--json"}).out);
  EXPECT_EQ(collected["run_folders"], json::array({"exp_1_deadbeef"}));
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_TRUE(fs::exists(stranger / "todo.txt"));
  EXPECT_TRUE(fs::exists(RunDir(second)));

  // The last run of the snapshot goes, then the snapshot with its objects.
  ASSERT_EQ(Kiln({"delete", second}).exit.code, 0);
  const json emptied = json::parse(Kiln({"gc", "--min-age", "0s", "--json"}).out);
  EXPECT_EQ(emptied["manifests"], 1);
  EXPECT_EQ(emptied["objects"], 1);
  EXPECT_EQ(Manifests(), 0u);
  EXPECT_NE(emptied["store"].get<std::string>().find("WAL"), std::string::npos);

  // Refusals leave everything: a running run, a name that is not a run, a bad age.
  const fs::path slow = Project("slow", {{"train.py", "import time\ntime.sleep(60)\n"}});
  const std::string running =
      SubmitOk({"--source-directory", slow.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForStatus(running, "Running"));
  const CapturedRun refused = Kiln({"delete", running});
  EXPECT_NE(refused.exit.code, 0);
  EXPECT_NE(refused.err.find("only runs that have ended are deleted"), std::string::npos)
      << refused.err;
  EXPECT_TRUE(fs::exists(RunDir(running) / "plan.json"));
  // A list with a run still going deletes none of it, the ended ones included.
  const std::string ended = SubmitOk(Job(project));
  const CapturedRun mixed = Kiln({"delete", ended, running});
  EXPECT_NE(mixed.exit.code, 0);
  EXPECT_NE(mixed.err.find("none of the 2 named was"), std::string::npos) << mixed.err;
  EXPECT_EQ(Kiln({"show", ended}).exit.code, 0);
  EXPECT_EQ(Kiln({"delete", running, "no-such-run"}).exit.code, 3);  // resolved first
  EXPECT_EQ(Kiln({"gc", "--min-age", "soon"}).exit.code, 2);
  ASSERT_EQ(Kiln({"cancel", running}).exit.code, 0);
}

// Runs are submitted, finish and are deleted (so their snapshot is unnamed again) while
// collections with no minimum age run back to back: every submit must find its snapshot and
// folder whole.
TEST_F(RunRemovalTest, ACollectionRacingSubmitsNeverTakesWhatARunNeeds) {
  const fs::path project = Project("p", {{"train.py", "print(open('train.py').read()[:5])\n"},
                                         {"data.txt", std::string(100000, 'x')}});
  std::atomic<bool> done{false};
  std::atomic<int> collections{0};
  std::thread collector([&] {
    while (!done) {
      const CapturedRun gc = Kiln({"gc", "--min-age", "0s"});
      if (gc.exit.code != 0) ADD_FAILURE() << gc.err;
      ++collections;
    }
  });
  for (int i = 0; i < 8; ++i) {
    const CapturedRun run = Kiln(
        {"submit", "--source-directory", project.string(), "--entry-script", "train.py", "--wait"});
    ASSERT_EQ(run.exit.code, 0) << run.err;
    const std::string id = FirstLine(run.out);
    EXPECT_NE(Kiln({"logs", id}).out.find("print"), std::string::npos);
    ASSERT_EQ(Kiln({"delete", id}).exit.code, 0);
  }
  done = true;
  collector.join();
  EXPECT_GE(collections.load(), 2);
}

TEST_F(RunRemovalTest, AViewerCannotDeleteAndOnlyAnAdminCollects) {
  StartServer();
  const std::string member = CreateToken("mia", "member");
  const std::string viewer = CreateToken("vic", "viewer");
  const fs::path project = Project("p", {{"train.py", "print('done')\n"}});
  std::vector<std::string> submit = Job(project);
  submit.insert(submit.begin(), "submit");
  const CapturedRun run = Client(submit, member);
  ASSERT_EQ(run.exit.code, 0) << run.err << ServerLog();
  const std::string id = FirstLine(run.out);
  const fs::path folder = server_home() / "runs" / id;
  ASSERT_TRUE(fs::exists(folder));

  const CapturedRun denied = Client({"delete", id}, viewer);
  EXPECT_NE(denied.exit.code, 0);
  EXPECT_NE(denied.err.find("needs the member role"), std::string::npos) << denied.err;
  EXPECT_EQ(Http(viewer).Delete("/v1/runs/" + id)->status, 403);
  EXPECT_TRUE(fs::exists(folder));
  EXPECT_EQ(Http(member).Post("/v1/gc", "{}", "application/json")->status, 403);

  const CapturedRun deleted = Client({"delete", id}, member);
  ASSERT_EQ(deleted.exit.code, 0) << deleted.err << ServerLog();
  EXPECT_FALSE(fs::exists(folder));  // removed on the server's machine
  EXPECT_EQ(Http(viewer).Get("/v1/runs/" + id)->status, 404);
  const CapturedRun gc = Client({"gc", "--min-age", "0s", "--json"});
  ASSERT_EQ(gc.exit.code, 0) << gc.err << ServerLog();
  EXPECT_EQ(json::parse(gc.out)["manifests"], 1);
  const auto odd = Http().Post("/v1/gc", R"({"min_age_seconds": -1})", "application/json");
  EXPECT_EQ(odd->status, 400);
  EXPECT_NE(odd->body.find("min_age_seconds"), std::string::npos) << odd->body;
}

}  // namespace
}  // namespace kiln::e2e
