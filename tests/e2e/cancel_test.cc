// kiln cancel ends the whole process tree of a run; nothing of it is left.

#include <thread>

#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {

class CancelTest : public KilnTest {};

// A training script that starts helpers the way real ones do: a data-loader style child,
// a grandchild in its own session, and one that ignores SIGTERM.
constexpr const char* kTree = R"(import os, subprocess, sys, time
subprocess.Popen(["sleep", "1000"])
subprocess.Popen(["setsid", "sh", "-c", "sleep 1000"])
subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 1000"])
print("started", flush=True)
time.sleep(1000)
)";

TEST_F(CancelTest, CancelStopsEveryProcessOfTheRun) {
  const auto project = Project("proj", {{"train.py", kTree}});
  const std::string id =
      SubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForStatus(id, "Running"));
  for (int i = 0; i < 300 && RunProcessCount(id) < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(RunProcessCount(id), 5u);  // python, sleep, sh+sleep (setsid), sh+sleep (trap)

  const CapturedRun cancel = Kiln({"cancel", id});
  EXPECT_EQ(cancel.exit.code, 0) << cancel.err;
  EXPECT_EQ(cancel.out, id + " Canceled\n");
  EXPECT_EQ(RunProcessCount(id), 0u);
  const nlohmann::json shown = KilnJson({"show", id, "--json"});
  EXPECT_EQ(shown["status"], "Canceled");
  std::vector<std::string> history;
  for (const auto& change : shown["history"]) history.push_back(change["status"]);
  EXPECT_EQ(history, (std::vector<std::string>{"Queued", "Preparing", "Running", "CancelRequested",
                                               "Canceled"}));

  const CapturedRun again = Kiln({"cancel", id});
  EXPECT_EQ(again.exit.code, 5);
  EXPECT_EQ(again.err, "error: run " + id + " has ended already (Canceled)\n");
}

TEST_F(CancelTest, StreamingSubmitReportsTheCancel) {
  const auto project =
      Project("proj", {{"train.py", "import time\nprint('up', flush=True)\ntime.sleep(1000)\n"}});
  SpawnOptions submit;
  submit.argv = {KILN_BINARY, "submit",  "--source-directory", project.string(), "--entry-script",
                 "train.py",  "--stream"};
  std::vector<std::string> env = CurrentEnvironment();
  env.push_back("KILN_HOME=" + home().string());
  submit.env = env;
  Result<CapturedRun> streamed = InternalError("not run");
  std::thread waiter([&] { streamed = RunAndCapture(submit, std::chrono::seconds(60)); });
  std::string id;
  for (int i = 0; i < 500 && id.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const nlohmann::json runs = nlohmann::json::parse(Kiln({"runs", "--json"}).out, nullptr, false);
    if (runs.is_array() && !runs.empty() && runs[0]["status"] == "Running") id = runs[0]["id"];
  }
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Kiln({"cancel", id}).exit.code, 0);
  waiter.join();
  ASSERT_TRUE(streamed.ok());
  EXPECT_EQ(streamed->exit.code, 4);
  EXPECT_NE(streamed->out.find("up"), std::string::npos);
  EXPECT_NE(streamed->err.find("Canceled"), std::string::npos);
}

}  // namespace
}  // namespace kiln::e2e
