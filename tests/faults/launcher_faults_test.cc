// The launcher killed (SIGKILL) while the run is Preparing, Running or Finalizing, and at
// random moments: the run ends Failed with the launcher's death as its reason, nothing of it
// keeps running, and every point the script logged is stored exactly once.
//
// Preparing and Finalizing last milliseconds, so the launcher is stopped there on purpose:
// KILN_FAULT_STOP_AT=<status> makes it stop itself (SIGSTOP) right after storing that status
// (docs/configuration.md), and the test kills it where it stands.

#include <fmt/format.h>
#include <signal.h>

#include <random>
#include <thread>

#include "faults/fault_fixture.h"

namespace kiln::faults {
namespace {

class LauncherFaultTest : public FaultTest {
 protected:
  std::filesystem::path runs() const { return home() / "runs"; }

  // Submits `project` with KILN_FAULT_STOP_AT=`status`, waits for the launcher to stop
  // there, kills it, and judges the run.
  void KillStoppedAt(const std::string& status, const std::filesystem::path& project,
                     const std::string& metric) {
    const KilnCall stop_at = [&](const std::vector<std::string>& args) {
      return Kiln(args, {{"KILN_FAULT_STOP_AT", status}});
    };
    const std::string id =
        Submit(stop_at, {"--source-directory", project.string(), "--entry-script", "train.py"});
    ASSERT_FALSE(id.empty());
    ASSERT_TRUE(WaitUntil(Embedded(), id, {status}));
    const pid_t launcher = LauncherPid(runs(), id);
    ASSERT_GT(launcher, 0);
    KillNow(launcher);
    Settle(
        fmt::format("launcher SIGKILL while {}", status), Embedded(), id, runs(),
        {"Failed", fmt::format("the launcher (pid {}) died while the run was {}", launcher, status),
         metric});
  }
};

TEST_F(LauncherFaultTest, KilledWhilePreparing) {
  KillStoppedAt("Preparing", LoggingProject("proj", 100, 100, 0, 0), "");
}

TEST_F(LauncherFaultTest, KilledWhileRunning) {
  const auto project = LoggingProject("proj", 5000, 1000, 0.01, 1000);
  const std::string id =
      Submit(Embedded(), {"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(WaitUntil(Embedded(), id, {"Running"}));
  // Every point logged, the script asleep: the store must end up with all 5000.
  for (int i = 0; i < 600; ++i) {
    const CapturedRun logs = Kiln({"logs", id});
    if (logs.out.find("done") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const pid_t launcher = LauncherPid(runs(), id);
  ASSERT_GT(launcher, 0);
  KillNow(launcher);
  Settle("launcher SIGKILL while Running", Embedded(), id, runs(),
         {"Failed", fmt::format("the launcher (pid {}) died while the run was Running", launcher),
          "step"});
}

// The ranks ended and their last points wait in the spool for the final ingest that the
// dead launcher never made: reading the run must make it.
TEST_F(LauncherFaultTest, KilledWhileFinalizing) {
  KillStoppedAt("Finalizing", LoggingProject("proj", 20000, 20000, 0, 0), "step");
}

TEST_F(LauncherFaultTest, KilledAtRandomMoments) {
  constexpr int kTrials = 6;
  const unsigned seed = std::random_device{}();
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> delay_ms(0, 2500);
  // About a second of logging, then the script ends.
  const auto project = LoggingProject("proj", 20000, 500, 0.02, 0);
  for (int trial = 0; trial < kTrials; ++trial) {
    const int delay = delay_ms(random);
    SCOPED_TRACE(fmt::format("seed {} trial {}: kill after {} ms", seed, trial, delay));
    const std::string id =
        Submit(Embedded(), {"--source-directory", project.string(), "--entry-script", "train.py"});
    ASSERT_FALSE(id.empty());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    // A kill before the launcher has written its pid would kill nothing: wait for the pid.
    pid_t launcher = LauncherPid(runs(), id);
    for (int i = 0; launcher <= 0 && i < 500; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      launcher = LauncherPid(runs(), id);
    }
    ASSERT_GT(launcher, 0);
    // A launcher killed while the run is still Queued "stopped before the run started"; one
    // that got further "died while the run was ...". Read before the kill, Queued allows both,
    // since the launcher may move the run on before the signal lands.
    const bool queued = Show(Embedded(), id).value("status", "") == "Queued";
    KillNow(launcher);
    // A launcher that had already recorded Completed died with nothing left to do.
    const bool completed = Show(Embedded(), id).value("status", "") == "Completed";
    const std::string reason = queued ? fmt::format("the launcher (pid {}) ", launcher)
                                      : fmt::format("the launcher (pid {}) died", launcher);
    Settle(fmt::format("launcher SIGKILL at a random moment ({} ms)", delay), Embedded(), id,
           runs(),
           completed ? Expected{"Completed", "", "step"} : Expected{"Failed", reason, "step"});
  }
}

}  // namespace
}  // namespace kiln::faults
