// The API server killed (SIGKILL) during a submit, while a run streams its metrics to it,
// and while a client follows a run's log. Launchers keep their points in the spool and
// retry, so a server that comes back loses nothing; a client whose server died says so and
// ends; a submit cut short leaves no half-made run.

#include <fmt/format.h>

#include <random>
#include <thread>

#include "common/files.h"
#include "faults/fault_fixture.h"

namespace kiln::faults {
namespace {
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

class ServerFaultTest : public FaultTest {
 protected:
  fs::path runs() const { return server_home() / "runs"; }
};

TEST_F(ServerFaultTest, KilledDuringMetricIngest) {
  StartServer();
  // About three seconds of logging.
  const auto project = LoggingProject("proj", 20000, 1000, 0.15, 0);
  const std::string id =
      Submit(ViaServer(), {"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitUntil(ViaServer(), id, {"Running"}));
  std::this_thread::sleep_for(seconds(1));
  KillServer();
  std::this_thread::sleep_for(seconds(2));
  StartServer();
  Settle("server SIGKILL during metric ingest", ViaServer(), id, runs(), {"Completed", "", "step"});
}

TEST_F(ServerFaultTest, KilledWhileAClientFollowsTheLog) {
  StartServer();
  const auto project = LoggingProject("proj", 20000, 1000, 0.15, 0);
  const std::string id =
      Submit(ViaServer(), {"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitUntil(ViaServer(), id, {"Running"}));
  const fs::path output = root() / "follow.txt";
  Subprocess follower = StartClient({"logs", id, "-f"}, output);
  std::this_thread::sleep_for(seconds(1));
  KillServer();
  std::this_thread::sleep_for(seconds(2));
  StartServer();
  // The follower ends by itself, with the whole log or with an error that names the server.
  const Result<ExitStatus> exit = follower.WaitFor(seconds(40));
  ASSERT_TRUE(exit.ok()) << "kiln logs -f still runs 40 s after its server died";
  const std::string followed = FileText(output);
  EXPECT_FALSE(exit->signaled) << exit->Describe() << "\n" << followed;
  if (exit->code == 0) {
    EXPECT_NE(followed.find("done"), std::string::npos) << followed;
  } else {
    EXPECT_NE(followed.find("server"), std::string::npos) << followed;
  }
  Settle("server SIGKILL while a client follows the log", ViaServer(), id, runs(),
         {"Completed", "", "step"});
}

// The snapshot upload takes a while (30 MB); the server dies during it.
TEST_F(ServerFaultTest, KilledDuringSubmit) {
  StartServer();
  std::map<std::string, std::string> files = {{"train.py", "print('ran', flush=True)\n"}};
  std::mt19937 random(7);
  for (int i = 0; i < 300; ++i) {
    std::string bytes(100 * 1024, '\0');
    for (char& c : bytes) c = static_cast<char>('a' + random() % 26);
    files[fmt::format("data/part-{:03}.txt", i)] = std::move(bytes);
  }
  const auto project = Project("big", files);
  const fs::path output = root() / "submit.txt";
  Subprocess submit = StartClient(
      {"submit", "--source-directory", project.string(), "--entry-script", "train.py"}, output);
  std::this_thread::sleep_for(milliseconds(300));
  KillServer();
  const Result<ExitStatus> exit = submit.WaitFor(seconds(60));
  ASSERT_TRUE(exit.ok()) << "kiln submit still runs 60 s after its server died";
  const std::string said = FileText(output);
  EXPECT_FALSE(exit->signaled) << exit->Describe() << "\n" << said;
  StartServer();

  const nlohmann::json listed =
      nlohmann::json::parse(Client({"runs", "--json"}).out, nullptr, false);
  ASSERT_TRUE(listed.is_array()) << listed.dump();
  if (exit->code == 0) {
    // The submit finished before the server died: the run is whole and runs to its end.
    ASSERT_EQ(listed.size(), 1u);
    Settle("server SIGKILL during submit (submit had finished)", ViaServer(),
           listed[0]["id"].get<std::string>(), runs(), {"Completed", "", ""});
    return;
  }
  EXPECT_NE(said.find("server"), std::string::npos) << said;
  // Nothing half-made: no run in the store, no run directory without a run.
  FaultOutcome outcome;
  outcome.fault = "server SIGKILL during submit";
  std::size_t run_dirs = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(runs(), error)) {
    (void)entry;
    ++run_dirs;
  }
  outcome.state_right = listed.empty() && run_dirs == 0;
  EXPECT_TRUE(listed.empty()) << listed.dump();
  EXPECT_EQ(run_dirs, 0u);
  RecordFault(outcome);
}

}  // namespace
}  // namespace kiln::faults
