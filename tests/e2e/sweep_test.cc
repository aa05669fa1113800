// kiln sweep, from the outside: sweeps that run to the end, stop weak trials with a stated
// reason, survive their driver's death, cancel and resume, and refuse bad sweep files.

#include <signal.h>

#include <set>
#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "e2e/kiln_fixture.h"
#include "e2e/sweep_files.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;

using nlohmann::json;

class SweepTest : public KilnTest {
 protected:
  // A sweep file in a new project; `extra` is appended to it, `params` are the trial's
  // script_params.
  std::filesystem::path SweepFile(const std::string& extra, const std::string& params = "{}") {
    const auto project = Project("proj", {{"train.py", kSweepTrial}});
    const auto file = root() / "sweep.yaml";
    EXPECT_TRUE(WriteFileAtomically(file, SweepFileText(project, extra, params)).ok());
    return file;
  }

  std::string SubmitSweep(const std::filesystem::path& file) {
    const CapturedRun submitted = Kiln({"sweep", "submit", file.string()});
    EXPECT_EQ(submitted.exit.code, 0) << submitted.err;
    return FirstLine(submitted.out);
  }

  // Polls the sweep until it has `status`.
  json WaitForSweep(const std::string& id, const std::string& status,
                    std::chrono::seconds timeout = std::chrono::seconds(90)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json shown;
    while (std::chrono::steady_clock::now() < deadline) {
      shown = KilnJson({"sweep", "show", id, "--json"});
      if (shown["status"] == status) return shown;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "sweep " << id << " never became " << status << ": " << shown.dump(2);
    return shown;
  }

  // Polls until the sweep has made `count` trials (10 s at most); its trials then.
  json WaitForTrials(const std::string& id, std::size_t count) {
    json trials = KilnJson({"sweep", "trials", id, "--json"});
    for (int i = 0; i < 200 && trials.size() < count; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      trials = KilnJson({"sweep", "trials", id, "--json"});
    }
    return trials;
  }

  std::optional<int> DriverPid(const std::string& id) {
    const Result<std::string> text = ReadFileToString(RunDir(id) / "driver.lock");
    if (!text.ok() || text->empty()) return std::nullopt;
    return std::stoi(*text);
  }
};

TEST_F(SweepTest, ASweepRunsItsTrialsAndRanksThemByThePrimaryMetric) {
  const std::string id = SubmitSweep(SweepFile(R"(search_space:
  --quality: {type: choice, values: [0.2, 0.9, 0.5]}
sampling: {type: grid}
limits: {max_concurrent_trials: 2}
)"));
  const json shown = WaitForSweep(id, "Completed");
  ASSERT_EQ(shown["trials"].size(), 3u);  // the grid's size, as no max_total_trials is given
  std::vector<double> ranked;
  for (const json& trial : shown["trials"]) {
    EXPECT_EQ(trial["status"], "Completed");
    EXPECT_EQ(trial["intervals"], 3);
    ranked.push_back(trial["best"].get<double>());
  }
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_NEAR(ranked[0], 0.9, 1e-12);
  EXPECT_NEAR(ranked[1], 0.5, 1e-12);
  EXPECT_NEAR(ranked[2], 0.2, 1e-12);

  // Each trial is an ordinary run under its sweep, given its point as script arguments.
  const json best = KilnJson({"sweep", "best", id, "--json"});
  EXPECT_EQ(best["params"], json::parse(R"({"--quality": 0.9})"));
  const json run = KilnJson({"show", best["run_id"], "--json"});
  EXPECT_EQ(run["parent_id"], id);
  EXPECT_EQ(run["experiment"], "sweeps");
  const CapturedRun logs = Kiln({"logs", best["run_id"]});
  EXPECT_NE(logs.out.find("argv ['--quality', '0.9']"), std::string::npos) << logs.out;

  const json trials = KilnJson({"sweep", "trials", id, "--json"});
  std::vector<json> in_order;
  for (const json& trial : trials) in_order.push_back(trial["params"]["--quality"]);
  EXPECT_EQ(in_order, (std::vector<json>{0.2, 0.9, 0.5}));
  // Replaying a bandit policy on the recorded curves stops the third trial (it started
  // after the best had logged), never the best; replaying none stops nothing. (Whether the
  // first is stopped depends on whose points came first: it ran beside the best.)
  const json replay =
      KilnJson({"sweep", "replay", id, "--policy", "{type: bandit, slack_factor: 0.1}", "--json"});
  EXPECT_EQ(replay["trials"][2]["stopped_at"], 1) << replay.dump(2);
  EXPECT_EQ(replay["trials"][1]["stopped_at"], nullptr);
  EXPECT_EQ(replay["best_run_id"], best["run_id"]);
  EXPECT_EQ(replay["best_survives"], true);
  EXPECT_GT(replay["seconds_saved"].get<double>(), 0);
  EXPECT_EQ(KilnJson({"sweep", "replay", id, "--policy", "{type: none}", "--json"})["stopped"], 0);
  const CapturedRun bad = Kiln({"sweep", "replay", id, "--policy", "{type: bandit}"});
  EXPECT_EQ(bad.exit.code, 2);
  EXPECT_EQ(bad.err,
            "error: --policy: the bandit policy needs exactly one of slack_factor and "
            "slack_amount\n");

  const CapturedRun runs = Kiln({"runs"});
  EXPECT_NE(runs.out.find("sweep of 3 trials"), std::string::npos) << runs.out;
  EXPECT_NE(runs.out.find("\n  " + best["run_id"].get<std::string>()), std::string::npos);
}

TEST_F(SweepTest, APolicyStopsAWeakTrialAndSaysWhy) {
  // One at a time: the strong trial ends first; the weak one is below the slack at its
  // first interval and is stopped with most of its ten still to go.
  const std::string id = SubmitSweep(SweepFile(R"(search_space:
  --quality: {type: choice, values: [1.0, 0.2]}
sampling: {type: grid}
limits: {max_concurrent_trials: 1}
early_termination: {type: bandit, slack_factor: 0.1}
)",
                                               "{--intervals: 10, --pause: 0.2}"));
  const json shown = WaitForSweep(id, "Completed");
  ASSERT_EQ(shown["trials"].size(), 2u);
  const json& strong = shown["trials"][0];
  const json& weak = shown["trials"][1];
  EXPECT_EQ(strong["status"], "Completed");
  EXPECT_EQ(strong["stop_reason"], nullptr);
  EXPECT_EQ(weak["status"], "Canceled");
  // Interval 1: the strong trial logged 0.1, the weak one 0.02.
  EXPECT_EQ(weak["stop_reason"],
            "stopped early by BanditPolicy at interval 1: best 0.02 < 0.09091 = 0.1 / (1 + 0.1), "
            "the sweep's best at interval 1 (2 trials reached it)");
  EXPECT_EQ(weak["judged_through"], 1);
  EXPECT_LT(weak["intervals"].get<int>(), 10);
  EXPECT_EQ(RunProcessCount(weak["run_id"]), 0u);
  // The trial's own history says it too, and the table shows it.
  const json run = KilnJson({"show", weak["run_id"], "--json"});
  EXPECT_EQ(run["history"][run["history"].size() - 2]["detail"], weak["stop_reason"]);
  const CapturedRun table = Kiln({"sweep", "show", id});
  EXPECT_NE(table.out.find("stopped early by BanditPolicy at interval 1"), std::string::npos)
      << table.out;
}

TEST_F(SweepTest, AKilledDriverIsResumedAndEveryPointRunsOnce) {
  const std::string id = SubmitSweep(SweepFile(R"(search_space:
  --quality: {type: uniform, min_value: 0, max_value: 1}
sampling: {type: random, seed: 11}
limits: {max_total_trials: 6, max_concurrent_trials: 2}
)",
                                               "{--intervals: 4, --pause: 0.2}"));
  // Kill the driver as soon as it has stored a trial, whatever it is doing then.
  std::optional<int> pid;
  for (int i = 0; i < 1000; ++i) {
    pid = DriverPid(id);
    if (pid && !KilnJson({"sweep", "trials", id, "--json"}).empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(pid.has_value());
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const json orphaned = KilnJson({"sweep", "show", id, "--json"});
  EXPECT_EQ(orphaned["status"], "Running");
  EXPECT_EQ(orphaned["driver_alive"], false);
  const CapturedRun text = Kiln({"sweep", "show", id});
  EXPECT_NE(text.out.find("not running (kiln sweep resume " + id), std::string::npos) << text.out;

  const CapturedRun resumed = Kiln({"sweep", "resume", id});
  EXPECT_EQ(resumed.exit.code, 0) << resumed.err;
  const CapturedRun twice = Kiln({"sweep", "resume", id});
  EXPECT_EQ(twice.exit.code, 5) << twice.err;
  WaitForSweep(id, "Completed");
  const json trials = KilnJson({"sweep", "trials", id, "--json"});
  // Killed between storing a trial and starting its launcher, the driver leaves a trial
  // that never ran: it is not counted, and six trials still ran.
  std::set<std::string> points;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i]["index"], static_cast<int>(i));
    if (trials[i]["status"] == "Completed") {
      points.insert(trials[i]["params"].dump());
    } else {
      EXPECT_EQ(trials[i]["status"], "Failed");
      EXPECT_EQ(trials[i]["stop_reason"].get<std::string>().substr(0, 10), "never ran:");
    }
  }
  EXPECT_EQ(points.size(), 6u);
  EXPECT_LE(trials.size(), 7u);
  EXPECT_TRUE(DriverLetGo([&] { return KilnJson({"sweep", "show", id, "--json"}); }));
}

// Trials wait in the local target's queue like any run. One whose launcher dies while it
// waits never ran: the sweep does not count it and tries its grid point again.
TEST_F(SweepTest, TrialsQueueForSlotsAndALostTrialIsTriedAgain) {
  ASSERT_EQ(Kiln({"compute", "set", "local", "--cores", "1"}).exit.code, 0);
  // A job holds the only core until its gate opens, so the sweep's first trial waits.
  const fs::path gate = root() / "gate";
  const fs::path blocker =
      Project("blocker", {{"hold.py", "import os, time\nwhile not os.path.exists('" +
                                          gate.string() + "'):\n    time.sleep(0.05)\n"}});
  const std::string held =
      SubmitOk({"--source-directory", blocker.string(), "--entry-script", "hold.py"});
  ASSERT_TRUE(WaitForStatus(held, "Running"));
  const std::string id = SubmitSweep(SweepFile(R"(search_space:
  --quality: {type: choice, values: [0.2, 0.5, 0.8]}
sampling: {type: grid}
limits: {max_total_trials: 3, max_concurrent_trials: 2}
)",
                                               "{--intervals: 3, --pause: 0.1}"));
  json trials = WaitForTrials(id, 1);
  const std::string waiting = trials[0]["run_id"];
  for (int i = 0; i < 200; ++i) {
    const json run = KilnJson({"show", waiting, "--json"});
    if (run["target_detail"].is_string()) {
      EXPECT_EQ(run["target_detail"], "waiting for 1 core; 0 of 1 free; 1st in line");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // One trial waits; the sweep makes no other while it does.
  EXPECT_EQ(KilnJson({"sweep", "trials", id, "--json"}).size(), 1u);
  const std::optional<int> pid = LauncherPid(waiting);
  ASSERT_TRUE(pid.has_value());
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  ASSERT_TRUE(WaitForTrials(id, 2).size() >= 2u);
  ASSERT_TRUE(WriteFileAtomically(gate, "").ok());

  WaitForSweep(id, "Completed");
  trials = KilnJson({"sweep", "trials", id, "--json"});
  ASSERT_EQ(trials.size(), 4u) << trials.dump();
  EXPECT_EQ(trials[0]["status"], "Failed");
  EXPECT_EQ(trials[0]["stop_reason"],
            "never ran: its launcher was gone before the run started; not counted, and its point "
            "may be tried again");
  std::set<std::string> completed;
  for (std::size_t i = 1; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i]["status"], "Completed") << trials[i].dump();
    completed.insert(trials[i]["params"].dump());
  }
  EXPECT_EQ(completed.size(), 3u);
  EXPECT_TRUE(completed.contains(trials[0]["params"].dump())) << trials.dump();
}

// What a script can see of how it was started (its run's own paths aside): the warm trial
// must see what the cold one saw. It writes it to outputs/probe.json, logs the primary
// metric, and holds its slot until the test writes the file "<--gate>-<--x>".
constexpr const char* kProbe = R"(import json, os, sys, time
from kiln import Run
names = {k: (v if isinstance(v, (str, type(None))) else type(v).__name__)
         for k, v in globals().items() if k.startswith("__") and k != "__file__"}
seen = {"argv0": sys.argv[0], "argc": len(sys.argv), "path0_is_cwd": sys.path[0] == os.getcwd(),
        "cwd": os.path.basename(os.getcwd()), "globals": names,
        "main": sys.modules["__main__"].__dict__ is globals(),
        "file": os.path.relpath(__file__, os.getcwd()),
        "env": sorted(k for k in os.environ if k.startswith(("KILN", "PYTHON", "RANK", "WORLD")))}
os.makedirs("outputs", exist_ok=True)
with open("outputs/probe.json", "w") as f:
    json.dump(seen, f, sort_keys=True)
x = sys.argv[sys.argv.index("--x") + 1]
gate = sys.argv[sys.argv.index("--gate") + 1] + "-" + x
Run.get_context().log("score", float(x))
while not os.path.exists(gate):
    time.sleep(0.05)
)";

// One at a time: each trial after the first waits in line and starts warm; its script sees
// what the first, started cold, saw. With warm_start: false no trial starts warm.
TEST_F(SweepTest, AWarmTrialSeesWhatAColdOneSees) {
  const auto project = Project("probe", {{"train.py", kProbe}});
  for (const std::string warm : {"true", "false"}) {
    SCOPED_TRACE("warm_start: " + warm);
    const std::filesystem::path gate = root() / ("gate-" + warm);
    const auto file = root() / ("sweep-" + warm + ".yaml");
    ASSERT_TRUE(WriteFileAtomically(file, SweepFileText(project, R"(search_space:
  --x: {type: choice, values: [1, 2, 3]}
sampling: {type: grid}
limits: {max_concurrent_trials: 1}
warm_start: )" + warm + "\n",
                                                        "{--gate: " + gate.string() + "}"))
                    .ok());
    const std::string id = SubmitSweep(file);
    const auto log_of = [&](const json& trial) {
      const Result<std::string> log = ReadFileToString(RunDir(trial["run_id"]) / "launcher.log");
      return log.ok() ? *log : std::string();
    };
    // Warm, each trial holds its slot until the next one waits, started warm. (Cold, the
    // next trial is made only once the one before has ended.)
    for (std::size_t next = 1; next < 3; ++next) {
      json trials;
      for (int i = 0; i < 400 && warm == "true"; ++i) {
        trials = KilnJson({"sweep", "trials", id, "--json"});
        if (trials.size() > next &&
            log_of(trials[next]).find("rank 0 started warm") != std::string::npos) {
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (warm == "true") {
        ASSERT_GT(trials.size(), next) << trials.dump();
      }
      // Trial k has --x k+1 (the grid's order): this releases the one before `next`.
      ASSERT_TRUE(WriteFileAtomically(gate.string() + "-" + std::to_string(next), "").ok());
    }
    ASSERT_TRUE(WriteFileAtomically(gate.string() + "-3", "").ok());
    WaitForSweep(id, "Completed");
    const json trials = KilnJson({"sweep", "trials", id, "--json"});
    ASSERT_EQ(trials.size(), 3u);
    std::vector<std::string> probes;
    std::vector<bool> warm_started;
    for (const json& trial : trials) {
      EXPECT_EQ(trial["status"], "Completed");
      const Result<std::string> probe =
          ReadFileToString(RunDir(trial["run_id"]) / "outputs/probe.json");
      probes.push_back(probe.ok() ? *probe : "none");
      warm_started.push_back(log_of(trial).find("rank 0 started warm") != std::string::npos);
    }
    // The first trial takes a free slot at once: cold. The others waited their turn.
    EXPECT_FALSE(warm_started[0]);
    EXPECT_EQ(warm_started[1], warm == "true");
    EXPECT_EQ(warm_started[2], warm == "true");
    EXPECT_NE(probes[0], "none");
    EXPECT_EQ(probes[1], probes[0]);
    EXPECT_EQ(probes[2], probes[0]);
    EXPECT_EQ(json::parse(probes[0])["file"], "train.py");
  }
}

TEST_F(SweepTest, CancelStopsEveryTrialAndResumeContinuesTheSweep) {
  const std::string id = SubmitSweep(SweepFile(R"(search_space:
  --quality: {type: uniform, min_value: 0, max_value: 1}
sampling: {type: random, seed: 5}
limits: {max_total_trials: 4, max_concurrent_trials: 2}
)",
                                               "{--intervals: 100, --pause: 0.1}"));
  // Two trials run and a third waits in line, its rank started warm.
  const json made = WaitForTrials(id, 3);
  ASSERT_EQ(made.size(), 3u);
  const auto started_warm = [&] {
    const Result<std::string> log = ReadFileToString(RunDir(made[2]["run_id"]) / "launcher.log");
    return log.ok() && log->find("rank 0 started warm") != std::string::npos;
  };
  for (int i = 0; i < 200 && !started_warm(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(started_warm());
  EXPECT_EQ(RunProcessCount(made[2]["run_id"]), 1u);
  const CapturedRun canceled = Kiln({"sweep", "cancel", id});
  EXPECT_EQ(canceled.exit.code, 0) << canceled.err;
  EXPECT_EQ(canceled.out, id + " Canceled\n");
  const json trials = KilnJson({"sweep", "trials", id, "--json"});
  ASSERT_EQ(trials.size(), 3u);
  for (const json& trial : trials) {
    EXPECT_EQ(trial["status"], "Canceled");
    EXPECT_EQ(RunProcessCount(trial["run_id"]), 0u);
  }
  EXPECT_FALSE(KilnJson({"sweep", "show", id, "--json"})["driver_alive"].get<bool>());

  // Resumed, it makes the trial it has left; the canceled ones stay as they were.
  ASSERT_EQ(Kiln({"sweep", "resume", id}).exit.code, 0);
  const json more = WaitForTrials(id, 4);
  ASSERT_EQ(more.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(more[i]["status"], "Canceled");
  // `kiln cancel` of a sweep goes the same way.
  const CapturedRun again = Kiln({"cancel", id});
  EXPECT_EQ(again.exit.code, 0) << again.err;
  for (const json& trial : KilnJson({"sweep", "trials", id, "--json"})) {
    EXPECT_EQ(trial["status"], "Canceled");
    EXPECT_EQ(RunProcessCount(trial["run_id"]), 0u);
  }
}

TEST_F(SweepTest, ABadSweepFileNamesTheFieldAndMakesNothing) {
  const auto file = SweepFile(R"(search_space:
  --quality: {type: uniform, min_value: 0.5, max_value: 0.1}
limits: {max_total_trials: 2}
)");
  const CapturedRun refused = Kiln({"sweep", "submit", file.string()});
  EXPECT_EQ(refused.exit.code, 2);
  EXPECT_EQ(refused.err, "error: " + file.string() +
                             ": search_space.--quality: uniform needs min_value < max_value, "
                             "got 0.5 and 0.1\n");
  const auto warm = SweepFile(R"(search_space:
  --quality: {type: uniform, min_value: 0, max_value: 1}
limits: {max_total_trials: 2}
warm_start: {preload: [torch, 2fast]}
)");
  const CapturedRun bad_warm = Kiln({"sweep", "submit", warm.string()});
  EXPECT_EQ(bad_warm.exit.code, 2);
  EXPECT_EQ(bad_warm.err, "error: " + warm.string() +
                              ": warm_start.preload: '2fast' is not a module name (like torch or "
                              "torch.nn)\n");
  EXPECT_EQ(KilnJson({"runs", "--json"}), json::array());
}

}  // namespace
}  // namespace kiln::e2e
