// Sweeps through a Kiln server, which drives them: submitted, read, canceled and resumed
// with --server, and picked up again by a server that was killed mid-sweep.

#include <set>
#include <thread>

#include "common/files.h"
#include "e2e/server_fixture.h"
#include "e2e/sweep_files.h"
#include "launch/launcher_lock.h"

namespace kiln::e2e {
namespace {

using nlohmann::json;

class ServerSweepTest : public ServerTest {
 protected:
  std::string Submit(const std::string& extra, const std::string& params) {
    const auto project = Project("proj", {{"train.py", kSweepTrial}});
    const auto file = root() / "sweep.yaml";
    EXPECT_TRUE(WriteFileAtomically(file, SweepFileText(project, extra, params)).ok());
    const CapturedRun submitted = Client({"sweep", "submit", file.string()});
    EXPECT_EQ(submitted.exit.code, 0) << submitted.err << ServerLog();
    return FirstLine(submitted.out);
  }

  json Show(const std::string& id) {
    const CapturedRun shown = Client({"sweep", "show", id, "--json"});
    EXPECT_EQ(shown.exit.code, 0) << shown.err;
    return json::parse(shown.out, nullptr, false);
  }

  json WaitFor(const std::string& id, const std::string& status) {
    json shown;
    for (int i = 0; i < 600; ++i) {
      shown = Show(id);
      if (shown.is_object() && shown["status"] == status) return shown;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "sweep " << id << " never became " << status << ": " << shown.dump(2)
                  << ServerLog();
    return shown;
  }

  std::size_t TrialCount(const std::string& id) {
    const json trials = json::parse(Client({"sweep", "trials", id, "--json"}).out, nullptr, false);
    return trials.is_array() ? trials.size() : 0;
  }

  // Polls until the sweep has made `count` trials (10 s at most); how many it has.
  std::size_t WaitForTrials(const std::string& id, std::size_t count) {
    for (int i = 0; i < 200 && TrialCount(id) < count; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return TrialCount(id);
  }
};

TEST_F(ServerSweepTest, TheServerDrivesASweepSubmittedToIt) {
  StartServer();
  const std::string id = Submit(R"(search_space:
  --quality: {type: choice, values: [0.2, 0.9, 0.5]}
sampling: {type: grid}
limits: {max_concurrent_trials: 2}
)",
                                "{}");
  const json shown = WaitFor(id, "Completed");
  ASSERT_EQ(shown["trials"].size(), 3u);
  EXPECT_NEAR(shown["trials"][0]["best"].get<double>(), 0.9, 1e-12);
  EXPECT_TRUE(DriverLetGo([&] { return Show(id); }));
  const json best = json::parse(Client({"sweep", "best", id, "--json"}).out);
  EXPECT_EQ(best["params"], json::parse(R"({"--quality": 0.9})"));
  // The trials are the server's runs: their runs and metrics read through it.
  const json run = json::parse(Client({"show", best["run_id"], "--json"}).out);
  EXPECT_EQ(run["parent_id"], id);
  const json replay = json::parse(
      Client({"sweep", "replay", id, "--policy", "{type: none}", "--json"}).out, nullptr, false);
  EXPECT_EQ(replay["stopped"], 0) << replay.dump();
}

// A sweep given no seed gets one drawn where it is submitted, the server: two such sweeps
// sample differently, as they do on the embedded store.
TEST_F(ServerSweepTest, ASweepWithoutASeedGetsOneOfItsOwn) {
  StartServer();
  std::set<std::uint64_t> seeds;
  for (int i = 0; i < 2; ++i) {
    const std::string id = Submit(R"(search_space:
  --quality: {type: uniform, min_value: 0, max_value: 1}
limits: {max_total_trials: 1}
)",
                                  "{--intervals: 1}");
    const json run = json::parse(Client({"show", id, "--json"}).out);
    seeds.insert(run["spec"]["sampling"]["seed"].get<std::uint64_t>());
    WaitFor(id, "Completed");
  }
  EXPECT_EQ(seeds.size(), 2u);
  EXPECT_FALSE(seeds.contains(0));
}

TEST_F(ServerSweepTest, AServerKilledMidSweepPicksItUpAndEveryPointRunsOnce) {
  StartServer();
  const std::string id = Submit(R"(search_space:
  --quality: {type: uniform, min_value: 0, max_value: 1}
sampling: {type: random, seed: 4}
limits: {max_total_trials: 6, max_concurrent_trials: 2}
)",
                                "{--intervals: 4, --pause: 0.2}");
  ASSERT_GE(WaitForTrials(id, 2), 2u);
  KillServer();
  StartServer();
  WaitFor(id, "Completed");
  const json trials = json::parse(Client({"sweep", "trials", id, "--json"}).out);
  // A trial stored just before the kill, whose launcher had not started, never ran: it is
  // not counted, and six trials still ran.
  std::set<std::string> points;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i]["index"], static_cast<int>(i));
    if (trials[i]["status"] == "Completed") {
      points.insert(trials[i]["params"].dump());
    } else {
      EXPECT_EQ(trials[i]["stop_reason"].get<std::string>().substr(0, 10), "never ran:")
          << trials[i].dump();
    }
  }
  EXPECT_EQ(points.size(), 6u);
  EXPECT_LE(trials.size(), 7u);
}

// A server that starts while its sweep's driver lock is still held (its previous process
// not yet gone) cannot drive the sweep then; it adopts it once the lock is free.
TEST_F(ServerSweepTest, ASweepWhoseDriverLockWasHeldAtStartIsAdoptedLater) {
  StartServer();
  const std::string id = Submit(R"(search_space:
  --quality: {type: uniform, min_value: 0, max_value: 1}
sampling: {type: random, seed: 3}
limits: {max_total_trials: 3, max_concurrent_trials: 1}
)",
                                "{--intervals: 4, --pause: 0.2}");
  ASSERT_GE(WaitForTrials(id, 1), 1u);
  KillServer();
  Result<launch::LauncherLock> held =
      launch::LauncherLock::Acquire(server_home() / "runs" / id / "driver.lock");
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  StartServer();
  EXPECT_NE(ServerLog().find("sweep " + id + " not resumed: sweep " + id + " has a driver already"),
            std::string::npos)
      << ServerLog();
  held->Release();
  WaitFor(id, "Completed");
  EXPECT_NE(ServerLog().find("sweep " + id + " had no driver; driving it"), std::string::npos);
}

TEST_F(ServerSweepTest, CancelAndResumeThroughTheServer) {
  StartServer();
  const std::string id = Submit(R"(search_space:
  --quality: {type: uniform, min_value: 0, max_value: 1}
sampling: {type: random, seed: 9}
limits: {max_total_trials: 4, max_concurrent_trials: 2}
)",
                                "{--intervals: 100, --pause: 0.1}");
  WaitForTrials(id, 2);
  const CapturedRun canceled = Client({"sweep", "cancel", id});
  EXPECT_EQ(canceled.exit.code, 0) << canceled.err << ServerLog();
  EXPECT_EQ(canceled.out, id + " Canceled\n");
  for (const json& trial : json::parse(Client({"sweep", "trials", id, "--json"}).out)) {
    EXPECT_EQ(trial["status"], "Canceled");
    EXPECT_EQ(RunProcessCount(trial["run_id"]), 0u);
  }
  const CapturedRun resumed = Client({"sweep", "resume", id});
  EXPECT_EQ(resumed.exit.code, 0) << resumed.err << ServerLog();
  EXPECT_EQ(WaitForTrials(id, 4), 4u);
  // Resuming a sweep the server drives is refused; canceling it ends it again.
  const CapturedRun twice = Client({"sweep", "resume", id});
  EXPECT_EQ(twice.exit.code, 5) << twice.err;
  EXPECT_EQ(Client({"sweep", "cancel", id}).exit.code, 0);
}

}  // namespace
}  // namespace kiln::e2e
