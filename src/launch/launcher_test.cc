#include "launch/launcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "common/files.h"
#include "common/process_table.h"
#include "common/random.h"
#include "common/strings.h"
#include "common/test_dir.h"
#include "launch/launcher_lock.h"
#include "launch/log_format.h"
#include "launch/rank_env.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"
#include "snapshot/snapshot_store.h"
#include "store/sqlite/sqlite_store.h"
#include "tracking/spool_writer.h"

namespace kiln::launch {
namespace {
namespace fs = std::filesystem;
using store::RunStatus;

// A spawner that fails every start, for fault injection.
class FailingSpawner : public ProcessSpawner {
 public:
  Result<Subprocess> Spawn(const SpawnOptions&) override {
    return InternalError("injected spawn failure");
  }
};

class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("KILN_KILL_GRACE_SECONDS", "1", 1);
    auto store = store::sqlite::SqliteStore::Open(dir_.path() / "kiln.db");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
  }

  // Snapshots a source folder holding `script` as run.sh, and creates a Queued run for it.
  std::string MakeRun(const std::string& script, std::optional<std::int64_t> max_seconds = {},
                      const std::function<void(RunPlan&)>& adjust = {}) {
    // Ids are unique across processes, as real ones are: tests running in parallel find
    // their processes by the id.
    const std::string id = "run" + std::to_string(++runs_) + "_" + RandomHex(8);
    const fs::path src = dir_.path() / ("src-" + id);
    EXPECT_TRUE(CreateDirectories(src).ok());
    EXPECT_TRUE(WriteFileAtomically(src / "run.sh", "#!/bin/sh\n" + script).ok());
    ::chmod((src / "run.sh").c_str(), 0755);
    snapshot::SnapshotStore snapshots(dir_.path() / "snapshots");
    const auto scan = snapshot::ScanSource(src);
    EXPECT_TRUE(scan.ok());
    const auto info = snapshots.Create(*scan);
    EXPECT_TRUE(info.ok());

    const RunDir run_dir(dir_.path() / "runs" / id);
    EXPECT_TRUE(run_dir.Create().ok());
    RunPlan plan;
    plan.run_id = id;
    plan.experiment = "exp";
    plan.store_url = "sqlite://" + (dir_.path() / "kiln.db").string();
    plan.snapshot_store = snapshots.root();
    plan.snapshot_id = info->id;
    plan.command = {(run_dir.src() / "run.sh").string(), "--flag", "value"};
    plan.environment = {{"JOB_VAR", "job value"}};
    plan.max_run_duration_seconds = max_seconds;
    if (adjust) adjust(plan);
    EXPECT_TRUE(WritePlan(run_dir, plan).ok());

    store::Run run;
    run.id = id;
    run.experiment = "exp";
    run.spec_json = "{}";
    run.run_dir = run_dir.root().string();
    EXPECT_TRUE(store_->CreateRun(run).ok());
    return id;
  }

  RunDir Dir(const std::string& id) const { return RunDir(dir_.path() / "runs" / id); }

  // Runs the launcher in a child process, as `kiln launch` would.
  pid_t StartLauncher(const std::string& id, ProcessSpawner* spawner = nullptr,
                      std::chrono::milliseconds poll = std::chrono::milliseconds(50)) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      LauncherOptions options;
      options.run_dir = Dir(id).root();
      options.spawner = spawner;
      options.poll_interval = poll;
      const Result<RunStatus> status = RunLauncher(options);
      ::_exit(status.ok() ? 0 : 1);
    }
    return pid;
  }

  int WaitLauncher(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  store::Run Launch(const std::string& id, ProcessSpawner* spawner = nullptr) {
    EXPECT_EQ(WaitLauncher(StartLauncher(id, spawner)), 0);
    return *store_->GetRun(id);
  }

  bool WaitForStatus(const std::string& id, RunStatus status) {
    for (int i = 0; i < 500; ++i) {
      const auto run = store_->GetRun(id);
      if (run.ok() && run->status == status) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::vector<LogLine> Log(const std::string& id) {
    std::vector<LogLine> lines;
    const auto text = ReadFileToString(Dir(id).rank_log(0));
    if (!text.ok()) return lines;
    for (const std::string& line : SplitString(*text, '\n')) {
      if (auto parsed = ParseLogLine(line)) lines.push_back(*parsed);
    }
    return lines;
  }

  std::vector<RunStatus> History(const std::string& id) {
    std::vector<RunStatus> statuses;
    const auto history = store_->GetStatusHistory(id);
    for (const auto& change : *history) statuses.push_back(change.status);
    return statuses;
  }

  TestDir dir_;
  std::unique_ptr<store::Store> store_;
  int runs_ = 0;
};

TEST_F(LauncherTest, SuccessfulRunIsRecordedWithLogsAndOutputs) {
  const std::string id = MakeRun(
      "echo \"args: $*\"\necho oops >&2\nprintf 'no newline'\necho model > outputs/model.txt\n");
  const store::Run run = Launch(id);
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_TRUE(run.started_at.has_value());
  EXPECT_TRUE(run.ended_at.has_value());
  EXPECT_EQ(History(id),
            (std::vector<RunStatus>{RunStatus::kQueued, RunStatus::kPreparing, RunStatus::kRunning,
                                    RunStatus::kFinalizing, RunStatus::kCompleted}));
  const std::vector<LogLine> log = Log(id);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].text, "args: --flag value");
  EXPECT_EQ(log[0].stream, Stream::kOut);
  const auto err = std::find_if(log.begin(), log.end(),
                                [](const LogLine& l) { return l.stream == Stream::kErr; });
  ASSERT_NE(err, log.end());
  EXPECT_EQ(err->text, "oops");
  EXPECT_EQ(log.back().text, "no newline");
  EXPECT_EQ(*ReadFileToString(Dir(id).outputs() / "model.txt"), "model\n");
}

TEST_F(LauncherTest, FailureStoresReasonAndLastTwentyLines) {
  const std::string id = MakeRun("for i in $(seq 1 30); do echo line $i; done\nexit 3\n");
  const store::Run run = Launch(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_EQ(run.failure_reason, "rank 0 exited with code 3");
  ASSERT_EQ(run.failure_log_tail.size(), 20u);
  EXPECT_EQ(run.failure_log_tail.front(), "line 11");
  EXPECT_EQ(run.failure_log_tail.back(), "line 30");
  EXPECT_EQ(History(id).back(), RunStatus::kFailed);
}

TEST_F(LauncherTest, DeathBySignalIsNamed) {
  const std::string id = MakeRun("echo going\nkill -SEGV $$\n");
  const store::Run run = Launch(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.failure_reason, "rank 0 was killed by SIGSEGV");
  EXPECT_EQ(run.exit_code, 128 + SIGSEGV);
}

// Each local rank of a use_gpu run sees one of the launcher's GPUs, round-robin.
TEST_F(LauncherTest, GpuRunsGiveEachLocalRankOneDevice) {
  const std::string id = MakeRun("echo \"gpu=$CUDA_VISIBLE_DEVICES\"\n", {}, [](RunPlan& plan) {
    plan.ranks = {1, 3, spec::DistributedBackend::kGloo};
    plan.use_gpu = true;
  });
  ::setenv("CUDA_VISIBLE_DEVICES", "3,5", 1);
  const store::Run run = Launch(id);
  ::unsetenv("CUDA_VISIBLE_DEVICES");
  ASSERT_EQ(run.status, RunStatus::kCompleted);
  const std::vector<std::string> expected = {"gpu=3", "gpu=5", "gpu=3"};
  for (int rank = 0; rank < 3; ++rank) {
    const auto log = ReadFileToString(Dir(id).rank_log(rank));
    ASSERT_TRUE(log.ok());
    const std::optional<LogLine> line = ParseLogLine(TrimWhitespace(*log));
    ASSERT_TRUE(line.has_value()) << *log;
    EXPECT_EQ(line->text, expected[static_cast<std::size_t>(rank)]);
  }
}

TEST_F(LauncherTest, RankEnvironmentAndWorkingDirectory) {
  const std::string id = MakeRun("pwd\nenv | sort\n");
  ASSERT_EQ(Launch(id).status, RunStatus::kCompleted);
  std::map<std::string, std::string> env;
  std::string cwd;
  for (const LogLine& line : Log(id)) {
    const std::size_t equals = line.text.find('=');
    if (cwd.empty()) {
      cwd = line.text;
    } else if (equals != std::string::npos) {
      env[line.text.substr(0, equals)] = line.text.substr(equals + 1);
    }
  }
  EXPECT_EQ(cwd, Dir(id).src().string());
  EXPECT_EQ(env["RANK"], "0");
  EXPECT_EQ(env["WORLD_SIZE"], "1");
  EXPECT_EQ(env["LOCAL_RANK"], "0");
  EXPECT_EQ(env["LOCAL_WORLD_SIZE"], "1");
  EXPECT_EQ(env["NODE_RANK"], "0");
  EXPECT_EQ(env["MASTER_ADDR"], "127.0.0.1");
  EXPECT_GT(std::stoi(env["MASTER_PORT"]), 0);
  EXPECT_EQ(env["KILN_RUN_ID"], id);
  EXPECT_EQ(env["KILN_RUN_DIR"], Dir(id).root().string());
  EXPECT_EQ(env["KILN_RANK"], "0");
  EXPECT_EQ(env["KILN_OUTPUTS_DIR"], Dir(id).outputs().string());
  EXPECT_EQ(env["PYTHONUNBUFFERED"], "1");
  EXPECT_EQ(env["JOB_VAR"], "job value");
}

TEST_F(LauncherTest, CancelStopsTheWholeTree) {
  // A child, a grandchild that escapes into its own session, and a process that ignores
  // SIGTERM: all must go.
  const std::string id = MakeRun(
      "sleep 1000 &\n"
      "setsid sh -c 'sleep 1000' &\n"
      "sh -c 'trap \"\" TERM; sleep 1000' &\n"
      "echo started\n"
      "wait\n");
  const pid_t launcher = StartLauncher(id);
  ASSERT_TRUE(WaitForStatus(id, RunStatus::kRunning));
  for (int i = 0; i < 200 && FindProcessesWithEnvironment(RunMarker(id)).size() < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(FindProcessesWithEnvironment(RunMarker(id)).size(), 5u);
  store::Transition cancel;
  cancel.to = RunStatus::kCancelRequested;
  ASSERT_TRUE(store_->TransitionRun(id, cancel).ok());
  EXPECT_EQ(WaitLauncher(launcher), 0);
  const store::Run run = *store_->GetRun(id);
  EXPECT_EQ(run.status, RunStatus::kCanceled);
  EXPECT_TRUE(FindProcessesWithEnvironment(RunMarker(id)).empty());
}

TEST_F(LauncherTest, SigtermToTheLauncherCancels) {
  const std::string id = MakeRun("echo up\nsleep 1000\n");
  const pid_t launcher = StartLauncher(id);
  ASSERT_TRUE(WaitForStatus(id, RunStatus::kRunning));
  ::kill(launcher, SIGTERM);
  EXPECT_EQ(WaitLauncher(launcher), 0);
  const auto history = *store_->GetStatusHistory(id);
  ASSERT_GE(history.size(), 2u);
  EXPECT_EQ(history.back().status, RunStatus::kCanceled);
  EXPECT_EQ(history[history.size() - 2].detail, "launcher received SIGTERM");
  EXPECT_TRUE(FindProcessesWithEnvironment(RunMarker(id)).empty());
}

TEST_F(LauncherTest, DurationLimitEndsAHang) {
  const std::string id = MakeRun("echo hanging\nsleep 1000\n", /*max_seconds=*/1);
  const store::Run run = Launch(id);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.failure_reason, "the run exceeded max_run_duration_seconds (1 s) and was stopped");
  EXPECT_EQ(run.failure_log_tail, std::vector<std::string>{"hanging"});
  EXPECT_TRUE(FindProcessesWithEnvironment(RunMarker(id)).empty());
}

TEST_F(LauncherTest, OrphansLeftBehindAreStopped) {
  const std::string id = MakeRun("sleep 1000 &\nsetsid sleep 1000 &\necho done\n");
  const store::Run run = Launch(id);
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_TRUE(FindProcessesWithEnvironment(RunMarker(id)).empty());
}

TEST_F(LauncherTest, SpawnFailureFailsTheRun) {
  const std::string id = MakeRun("echo never\n");
  FailingSpawner failing;
  const store::Run run = Launch(id, &failing);
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.failure_reason, "rank 0 could not start: injected spawn failure");
  EXPECT_EQ(History(id), (std::vector<RunStatus>{RunStatus::kQueued, RunStatus::kPreparing,
                                                 RunStatus::kFailed}));
}

TEST_F(LauncherTest, CancelBeforeStartNeverRunsTheScript) {
  const std::string id = MakeRun("echo ran > outputs/ran\n");
  store::Transition cancel;
  cancel.to = RunStatus::kCancelRequested;
  ASSERT_TRUE(store_->TransitionRun(id, cancel).ok());
  EXPECT_EQ(Launch(id).status, RunStatus::kCanceled);
  EXPECT_FALSE(fs::exists(Dir(id).outputs() / "ran"));
}

TEST_F(LauncherTest, SecondLauncherIsRefused) {
  const std::string id = MakeRun("sleep 1000\n");
  auto lock = LauncherLock::Acquire(Dir(id).lock());
  ASSERT_TRUE(lock.ok());
  EXPECT_EQ(WaitLauncher(StartLauncher(id)), 1);
  EXPECT_EQ(store_->GetRun(id)->status, RunStatus::kQueued);
}

// Points a rank logged just before it ended, after the last periodic ingest, still reach the
// store before the run's final status: the launcher ingests once more while Finalizing. A
// poll interval of an hour leaves only that last ingest to do it.
TEST_F(LauncherTest, FinalIngestStoresEverythingWhateverTheEnding) {
  const fs::path spool = dir_.path() / "prepared.spool";
  {
    auto writer = tracking::SpoolWriter::Open(spool, 0);
    ASSERT_TRUE(writer.ok());
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE((*writer)->LogScalar("loss", i).ok());
    ASSERT_TRUE((*writer)->Close().ok());
  }
  const std::string put = "cp " + spool.string() + " $KILN_RUN_DIR/metrics/rank-0.spool\n";
  const std::string completed = MakeRun(put);
  const std::string failed = MakeRun(put + "exit 4\n");
  const std::string canceled = MakeRun(put + "touch $KILN_RUN_DIR/ready\nsleep 1000\n");
  const std::chrono::milliseconds hour = std::chrono::hours(1);
  EXPECT_EQ(WaitLauncher(StartLauncher(completed, nullptr, hour)), 0);
  EXPECT_EQ(WaitLauncher(StartLauncher(failed, nullptr, hour)), 0);
  const pid_t launcher = StartLauncher(canceled, nullptr, hour);
  for (int i = 0; i < 500 && !fs::exists(Dir(canceled).root() / "ready"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(launcher, SIGTERM);  // a cancel the launcher sees at once, not at its next poll
  EXPECT_EQ(WaitLauncher(launcher), 0);
  for (const auto& [id, status] :
       {std::pair{completed, RunStatus::kCompleted}, std::pair{failed, RunStatus::kFailed},
        std::pair{canceled, RunStatus::kCanceled}}) {
    EXPECT_EQ(store_->GetRun(id)->status, status) << id;
    const auto series = store_->ReadMetric(id, "loss", 0);
    ASSERT_TRUE(series.ok()) << id << ": " << series.status().ToString();
    EXPECT_EQ(series->points.size(), 1000u) << id;
  }
}

TEST_F(LauncherTest, ALaunchedRunIsNotLaunchedAgain) {
  const std::string id = MakeRun("echo once\n");
  ASSERT_EQ(Launch(id).status, RunStatus::kCompleted);
  EXPECT_EQ(WaitLauncher(StartLauncher(id)), 1);
  EXPECT_EQ(Log(id).size(), 1u);
}

}  // namespace
}  // namespace kiln::launch
