// The local target's capacity queue (launch/slot_queue.h), from the outside: runs that do
// not fit wait Queued in the order they came, `kiln show` says why and where, a job that
// could never fit is refused at submit, and slots come back however a run ends.

#include <signal.h>

#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;

// Holds its slot until the file named by --gate exists; --fail makes it exit 3 then.
constexpr const char* kGated = R"(import os, sys, time
gate = sys.argv[sys.argv.index("--gate") + 1]
print("started", flush=True)
while not os.path.exists(gate):
    time.sleep(0.05)
sys.exit(3 if "--fail" in sys.argv else 0)
)";

class QueueTest : public KilnTest {
 protected:
  void SetUp() override {
    project_ = Project("proj", {{"gated.py", kGated}});
    const CapturedRun set = Kiln({"compute", "set", "local", "--cores", "1"});
    ASSERT_EQ(set.exit.code, 0) << set.err;
    EXPECT_EQ(set.out.substr(0, set.out.find(';')), "local: 1 core (set), 1 free") << set.out;
  }

  // Submits gated.py; it runs until Open(name) (or fails then, with `fail`).
  std::string SubmitGated(const std::string& name, bool fail = false) {
    std::vector<std::string> args = {"--source-directory", project_.string(),
                                     "--entry-script",     "gated.py",
                                     "--script-param",     "--gate=" + Gate(name).string()};
    if (fail) args.insert(args.end(), {"--script-param", "--fail"});
    return SubmitOk(args);
  }
  fs::path Gate(const std::string& name) const { return root() / ("gate-" + name); }
  void Open(const std::string& name) const {
    ASSERT_TRUE(WriteFileAtomically(Gate(name), "").ok());
  }
  std::string StatusOf(const std::string& run) {
    return KilnJson({"show", run, "--json"})["status"].get<std::string>();
  }
  std::string TargetDetail(const std::string& run) {
    const nlohmann::json shown = KilnJson({"show", run, "--json"});
    return shown["target_detail"].is_string() ? shown["target_detail"].get<std::string>() : "";
  }

  fs::path project_;
};

TEST_F(QueueTest, RunsWaitInTheOrderTheyCameAndShowWhy) {
  const std::string first = SubmitGated("first");
  const std::string second = SubmitGated("second");
  const std::string third = SubmitGated("third");
  ASSERT_TRUE(WaitForStatus(first, "Running"));
  // Each waiting launcher says where it stands, in `kiln show` and its JSON.
  for (int i = 0; i < 200 && (TargetDetail(second).empty() || TargetDetail(third).empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(TargetDetail(second), "waiting for 1 core; 0 of 1 free; 1st in line");
  EXPECT_EQ(TargetDetail(third), "waiting for 1 core; 0 of 1 free; 2nd in line");
  const CapturedRun shown = Kiln({"show", third});
  EXPECT_NE(shown.out.find("waiting for 1 core; 0 of 1 free; 2nd in line"), std::string::npos)
      << shown.out;
  EXPECT_EQ(StatusOf(second), "Queued");
  EXPECT_EQ(StatusOf(third), "Queued");
  const CapturedRun target = Kiln({"compute", "show", "local"});
  EXPECT_NE(target.out.find("holding  " + first + "  1 core"), std::string::npos) << target.out;
  EXPECT_NE(target.out.find("waiting  " + third + "  1 core, 2nd in line"), std::string::npos)
      << target.out;

  // The third's gate opens first: it still waits its turn.
  Open("third");
  Open("first");
  ASSERT_TRUE(WaitForStatus(first, "Completed"));
  ASSERT_TRUE(WaitForStatus(second, "Running"));
  EXPECT_EQ(StatusOf(third), "Queued");
  Open("second");
  ASSERT_TRUE(WaitForStatus(third, "Completed"));
  ASSERT_TRUE(WaitForStatus(second, "Completed"));

  std::vector<std::string> starts;
  for (const std::string& run : {first, second, third}) {
    starts.push_back(KilnJson({"show", run, "--json"})["started_at"].get<std::string>());
  }
  EXPECT_LT(starts[0], starts[1]);
  EXPECT_LT(starts[1], starts[2]);
  EXPECT_TRUE(fs::is_empty(home() / "local-queue/holding"));
  EXPECT_TRUE(fs::is_empty(home() / "local-queue/waiting"));
}

TEST_F(QueueTest, AJobThatCouldNeverFitIsRefusedAtSubmit) {
  const CapturedRun refused =
      Kiln({"submit", "--source-directory", project_.string(), "--entry-script", "gated.py",
            "--process-count-per-node", "2", "--distributed-backend", "gloo"});
  EXPECT_EQ(refused.exit.code, 2);
  EXPECT_EQ(refused.err,
            "error: --process-count-per-node: the job needs 2 cores (2 ranks x 1 each), but "
            "compute target 'local' has 1 core in all; lower process_count_per_node, or give the "
            "target more with `kiln compute set local --cores N`\n");
  EXPECT_EQ(KilnJson({"runs", "--json"}).size(), 0u);
  EXPECT_FALSE(fs::exists(home() / "runs") && !fs::is_empty(home() / "runs"));

  const CapturedRun bad = Kiln({"compute", "set", "local", "--cores", "0"});
  EXPECT_EQ(bad.exit.code, 2);
  EXPECT_EQ(bad.err, "error: --cores: must be a whole number from 1 to 100000, or auto; got '0'\n");
}

TEST_F(QueueTest, CancelWhileQueuedLeavesTheLine) {
  const std::string first = SubmitGated("first");
  const std::string waiting = SubmitGated("waiting");
  const std::string next = SubmitGated("next");
  ASSERT_TRUE(WaitForStatus(first, "Running"));
  const CapturedRun cancel = Kiln({"cancel", waiting});
  EXPECT_EQ(cancel.exit.code, 0) << cancel.err;
  EXPECT_EQ(cancel.out, waiting + " Canceled\n");
  EXPECT_EQ(RunProcessCount(waiting), 0u);
  const nlohmann::json shown = KilnJson({"show", waiting, "--json"});
  EXPECT_TRUE(shown["started_at"].is_null());
  std::vector<std::string> history;
  for (const auto& change : shown["history"]) history.push_back(change["status"]);
  EXPECT_EQ(history, (std::vector<std::string>{"Queued", "CancelRequested", "Canceled"}));
  // The canceled run no longer stands in line.
  for (int i = 0; i < 100 && TargetDetail(next) != "waiting for 1 core; 0 of 1 free; 1st in line";
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(TargetDetail(next), "waiting for 1 core; 0 of 1 free; 1st in line");
  Open("first");
  Open("next");
  ASSERT_TRUE(WaitForStatus(next, "Completed"));
}

// A run that fails and a launcher killed with SIGKILL both give their slots back.
TEST_F(QueueTest, SlotsComeBackHoweverARunEnds) {
  const std::string failing = SubmitGated("failing", /*fail=*/true);
  const std::string killed = SubmitGated("killed");
  const std::string last = SubmitGated("last");
  ASSERT_TRUE(WaitForStatus(failing, "Running"));
  Open("failing");
  ASSERT_TRUE(WaitForStatus(failing, "Failed"));
  ASSERT_TRUE(WaitForStatus(killed, "Running"));
  EXPECT_EQ(StatusOf(last), "Queued");

  const std::optional<int> pid = LauncherPid(killed);
  ASSERT_TRUE(pid.has_value());
  ASSERT_EQ(::kill(*pid, SIGKILL), 0);
  // Nothing deletes the dead launcher's holding file; its lock is gone, and that is enough.
  ASSERT_TRUE(WaitForStatus(last, "Running"));
  EXPECT_EQ(StatusOf(killed), "Failed");
  Open("last");
  ASSERT_TRUE(WaitForStatus(last, "Completed"));
}

}  // namespace
}  // namespace kiln::e2e
