// The launchers of runs a Kiln server starts: they are the server's, whichever machine the
// client ran on, and one that cannot reach the server still stops when told to.

#include <fmt/format.h>
#include <signal.h>

#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "e2e/server_fixture.h"

namespace kiln::e2e {
namespace {

using nlohmann::json;

class ServerLauncherTest : public ServerTest {
 protected:
  std::filesystem::path ServerRunDir(const std::string& run) const {
    return server_home() / "runs" / run;
  }

  json GetRun(const std::string& run) { return BodyOf(Http().Get("/v1/runs/" + run)); }

  bool WaitForServerStatus(const std::string& run, const std::string& status) {
    for (int i = 0; i < 600; ++i) {
      if (GetRun(run).value("status", "") == status) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  pid_t LauncherPid(const std::string& run) {
    const Result<std::string> text = ReadFileToString(ServerRunDir(run) / "launcher.lock");
    const std::optional<std::int64_t> pid =
        text.ok() ? ParseInt64(TrimWhitespace(*text)) : std::nullopt;
    EXPECT_TRUE(pid.has_value());
    return pid ? static_cast<pid_t>(*pid) : -1;
  }

  // Whether `pid` has ended (a zombie not reaped yet counts as ended) within `limit`.
  static bool WaitGone(pid_t pid, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      const Result<std::string> stat = ReadFileToString(fmt::format("/proc/{}/stat", pid));
      // "pid (comm) S ...": the state follows the last ')'.
      if (!stat.ok()) return true;
      const std::size_t paren = stat->rfind(')');
      if (paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z') {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

std::string ThisHost() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  return name;
}

// A client on another machine sends its own host name; the run records the server's, so
// the server finds its dead launcher (before, such a run stayed Running forever).
TEST_F(ServerLauncherTest, ARunFromAnotherHostIsTheServersAndItsDeadLauncherIsFound) {
  StartServer();
  const auto project =
      Project("proj", {{"train.py", "import time\nprint('up', flush=True)\ntime.sleep(1000)\n"}});
  const std::string first =
      ClientSubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  const json sent = GetRun(first);
  ASSERT_TRUE(sent.contains("spec")) << sent.dump();

  // The same job again, as a client elsewhere would send it.
  const json request = {
      {"spec", sent["spec"]}, {"snapshot_id", sent["snapshot_id"]}, {"host", "a-laptop-elsewhere"}};
  const auto created = Http().Post("/v1/runs", request.dump(), "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string id = BodyOf(created)["id"];
  EXPECT_EQ(BodyOf(created)["host"], ThisHost());
  ASSERT_TRUE(WaitForServerStatus(id, "Running")) << GetRun(id).dump();

  const pid_t pid = LauncherPid(id);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(WaitGone(pid, std::chrono::seconds(10)));
  const json after = GetRun(id);
  EXPECT_EQ(after["status"], "Failed") << after.dump();
  EXPECT_TRUE(
      after.value("failure_reason", "")
          .starts_with(fmt::format("the launcher (pid {}) died while the run was Running", pid)))
      << after.dump();

  const CapturedRun canceled = Client({"cancel", first});
  EXPECT_EQ(canceled.exit.code, 0) << canceled.err;
  EXPECT_TRUE(WaitForServerStatus(first, "Canceled"));
}

// A launcher waiting out an unreachable server (KILN_SERVER_PATIENCE_SECONDS, a day by
// default) leaves at once on SIGTERM; the next read of the run settles it.
TEST_F(ServerLauncherTest, ALauncherRetryingAnUnreachableServerStopsOnSigterm) {
  StartServer();
  const std::filesystem::path go = root() / "go";
  const auto project = Project(
      "proj", {{"train.py", fmt::format("import os, time\nprint('up', flush=True)\n"
                                        "while not os.path.exists('{}'):\n    time.sleep(0.02)\n",
                                        go.string())}});
  const std::string id =
      ClientSubmitOk({"--source-directory", project.string(), "--entry-script", "train.py"});
  ASSERT_TRUE(WaitForServerStatus(id, "Running"));
  const pid_t pid = LauncherPid(id);
  ASSERT_GT(pid, 0);

  StopServer();
  ASSERT_TRUE(WriteFileAtomically(go, "").ok());
  // The script ends; the launcher cannot record Finalizing and keeps trying.
  const std::filesystem::path log = ServerRunDir(id) / "launcher.log";
  bool retrying = false;
  for (int i = 0; i < 1000 && !retrying; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const Result<std::string> text = ReadFileToString(log);
    retrying = text.ok() && text->find("trying again in") != std::string::npos;
  }
  ASSERT_TRUE(retrying) << *ReadFileToString(log);

  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_TRUE(WaitGone(pid, std::chrono::seconds(20))) << *ReadFileToString(log);
  EXPECT_NE(ReadFileToString(log)->find("not trying again: the launcher received SIGTERM"),
            std::string::npos)
      << *ReadFileToString(log);

  StartServer();
  const json after = GetRun(id);
  EXPECT_EQ(after["status"], "Failed") << after.dump();
  EXPECT_NE(after.value("failure_reason", "").find(fmt::format("the launcher (pid {})", pid)),
            std::string::npos)
      << after.dump();
}

}  // namespace
}  // namespace kiln::e2e
