// A launcher that dies (kill -9) is noticed the next time the store is read: the run
// becomes Failed with that reason, and what it left running is stopped.

#include <fmt/format.h>
#include <signal.h>

#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {

class LauncherDeathTest : public KilnTest {};

TEST_F(LauncherDeathTest, KilledLauncherMarksTheRunFailed) {
  const auto project =
      Project("proj", {{"train.py",
                        "import subprocess, time\nsubprocess.Popen(['setsid', 'sleep', '1000'])\n"
                        "print('up', flush=True)\ntime.sleep(1000)\n"}});
  const std::string id =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForStatus(id, "Running"));
  for (int i = 0; i < 300 && RunProcessCount(id) < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The rank and the grandchild it started in a session of its own: what must be stopped.
  ASSERT_GE(RunProcessCount(id), 2u) << "the rank's grandchild never started";
  const auto pid_text = ReadFileToString(RunDir(id) / "launcher.lock");
  ASSERT_TRUE(pid_text.ok());
  const auto pid = ParseInt64(TrimWhitespace(*pid_text));
  ASSERT_TRUE(pid.has_value());
  ASSERT_EQ(::kill(static_cast<pid_t>(*pid), SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  const nlohmann::json shown = KilnJson({"show", id, "--json"});
  EXPECT_EQ(shown["status"], "Failed");
  const std::string reason = shown["failure_reason"];
  EXPECT_TRUE(
      reason.starts_with(fmt::format("the launcher (pid {}) died while the run was Running", *pid)))
      << reason;
  EXPECT_EQ(RunProcessCount(id), 0u);
}

TEST_F(LauncherDeathTest, StreamingEndsWhenTheLauncherDies) {
  const auto project =
      Project("proj", {{"train.py", "import time\nprint('up', flush=True)\ntime.sleep(1000)\n"}});
  const std::string id =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForStatus(id, "Running"));
  for (int i = 0; i < 500 && Kiln({"logs", id}).out.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto pid = ParseInt64(TrimWhitespace(*ReadFileToString(RunDir(id) / "launcher.lock")));
  ASSERT_TRUE(pid.has_value());
  ::kill(static_cast<pid_t>(*pid), SIGKILL);
  const CapturedRun follow = Kiln({"logs", id, "-f"});
  EXPECT_EQ(follow.exit.code, 0);
  EXPECT_EQ(follow.out, "up\n");
  EXPECT_EQ(KilnJson({"show", id, "--json"})["status"], "Failed");
}

}  // namespace
}  // namespace kiln::e2e
