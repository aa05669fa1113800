// A launcher that dies (kill -9) is noticed the next time the store is read: the run
// becomes Failed with that reason, what it left running is stopped, and what the ranks
// logged that it had not stored yet is stored.

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

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

// The launcher is frozen (SIGSTOP) before the script logs, so it cannot have stored any of
// the points when it is killed: every one of them must come from the spool, by reconcile.
TEST_F(LauncherDeathTest, WhatTheRanksLoggedIsStoredBeforeTheRunFails) {
  constexpr int kPoints = 2500;
  const std::filesystem::path go = root() / "go";
  const std::filesystem::path logged = root() / "logged";
  const auto project = Project(
      "proj", {{"train.py", fmt::format("import os, time\nfrom kiln import Run\n"
                                        "run = Run.get_context()\nprint('up', flush=True)\n"
                                        "while not os.path.exists('{}'):\n    time.sleep(0.02)\n"
                                        "for i in range({}):\n    run.log('loss', float(i))\n"
                                        "open('{}', 'w').close()\ntime.sleep(1000)\n",
                                        go.string(), kPoints, logged.string())}});
  const std::string id =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForStatus(id, "Running"));
  for (int i = 0; i < 500 && Kiln({"logs", id}).out.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto pid = ParseInt64(TrimWhitespace(*ReadFileToString(RunDir(id) / "launcher.lock")));
  ASSERT_TRUE(pid.has_value());
  ASSERT_EQ(::kill(static_cast<pid_t>(*pid), SIGSTOP), 0);
  ASSERT_TRUE(WriteFileAtomically(go, "").ok());
  for (int i = 0; i < 1000 && !std::filesystem::exists(logged); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(std::filesystem::exists(logged));
  ASSERT_EQ(::kill(static_cast<pid_t>(*pid), SIGKILL), 0);
  for (int i = 0; i < 500 && ::kill(static_cast<pid_t>(*pid), 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  const nlohmann::json shown = KilnJson({"show", id, "--json"});
  EXPECT_EQ(shown["status"], "Failed");
  EXPECT_TRUE(
      std::string(shown["failure_reason"])
          .starts_with(fmt::format("the launcher (pid {}) died while the run was Running", *pid)))
      << shown["failure_reason"];
  const nlohmann::json summary = KilnJson({"metrics", id, "--format", "json"});
  ASSERT_EQ(summary.size(), 1u) << summary.dump();
  EXPECT_EQ(summary[0]["name"], "loss");
  EXPECT_EQ(summary[0]["count"], kPoints);
  EXPECT_EQ(summary[0]["last"], kPoints - 1.0);
  // Read again: nothing is stored twice.
  EXPECT_EQ(KilnJson({"metrics", id, "--format", "json"})[0]["count"], kPoints);
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
