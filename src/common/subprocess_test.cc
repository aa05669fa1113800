#include "common/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "common/files.h"
#include "common/process_table.h"
#include "common/test_dir.h"

namespace kiln {
namespace {
using std::chrono::milliseconds;

Result<CapturedRun> Sh(const std::string& script) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", script};
  return RunAndCapture(options, milliseconds(10'000));
}

TEST(SubprocessTest, CapturesOutputAndExitCode) {
  const auto run = Sh("echo out; echo err >&2; exit 3");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->out, "out\n");
  EXPECT_EQ(run->err, "err\n");
  EXPECT_EQ(run->exit.code, 3);
  EXPECT_EQ(run->exit.Describe(), "exited with code 3");
}

TEST(SubprocessTest, DescribesSignals) {
  const auto run = Sh("kill -SEGV $$");
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE(run->exit.signaled);
  EXPECT_EQ(run->exit.Describe(), "was killed by SIGSEGV");
}

TEST(SubprocessTest, MissingProgramIsNotFound) {
  SpawnOptions options;
  options.argv = {"kiln-no-such-program"};
  const auto child = RealSpawner().Spawn(options);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), StatusCode::kNotFound);
}

TEST(SubprocessTest, NonExecutableIsPermissionDenied) {
  TestDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "script", "#!/bin/sh\n").ok());
  SpawnOptions options;
  options.argv = {(dir.path() / "script").string()};
  const auto child = RealSpawner().Spawn(options);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.status().code(), StatusCode::kPermissionDenied);
}

TEST(SubprocessTest, BadWorkingDirectoryIsReported) {
  SpawnOptions options;
  options.argv = {"/bin/true"};
  options.cwd = "/kiln/no/such/dir";
  const auto child = RealSpawner().Spawn(options);
  ASSERT_FALSE(child.ok());
  EXPECT_NE(child.status().message().find("/kiln/no/such/dir"), std::string::npos);
}

TEST(SubprocessTest, EnvironmentAndDirectoryAreApplied) {
  TestDir dir;
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "echo $KILN_X; pwd"};
  options.env = std::vector<std::string>{"KILN_X=42", "PATH=/usr/bin:/bin"};
  options.cwd = dir.path();
  const auto run = RunAndCapture(options, milliseconds(10'000));
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->out, "42\n" + dir.path().string() + "\n");
}

TEST(SubprocessTest, OtherDescriptorsAreClosed) {
  auto pipe = MakePipe();
  ASSERT_TRUE(pipe.ok());
  const auto run = Sh("ls /proc/self/fd | wc -l");
  ASSERT_TRUE(run.ok());
  // 0, 1, 2 and the fd ls opens to read the directory.
  EXPECT_EQ(run->out, "4\n");
}

TEST(SubprocessTest, NewProcessGroupLeadsItsGroup) {
  SpawnOptions options;
  options.argv = {"/bin/sleep", "30"};
  options.new_process_group = true;
  auto child = RealSpawner().Spawn(options);
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(::getpgid(child->pid()), child->pid());
  ASSERT_EQ(::kill(-child->pid(), SIGKILL), 0);
  const auto status = child->Wait();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->signal, SIGKILL);
}

TEST(SubprocessTest, DetachedChildIsNotOurs) {
  TestDir dir;
  SpawnOptions options;
  options.argv = {"/bin/sleep", "30"};
  options.detach = true;
  auto child = RealSpawner().Spawn(options);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  EXPECT_TRUE(ProcessIsLive(child->pid()));
  EXPECT_NE(::getsid(child->pid()), ::getsid(0));
  const std::vector<pid_t> ours = FindDescendants(::getpid());
  EXPECT_EQ(std::find(ours.begin(), ours.end(), child->pid()), ours.end());
  ::kill(child->pid(), SIGKILL);
}

TEST(SubprocessTest, TimeoutKillsTheGroup) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "sleep 30 & sleep 30"};
  const auto run = RunAndCapture(options, milliseconds(200));
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), StatusCode::kDeadlineExceeded);
}

TEST(FindVariableTest, MatchesWholeNamesOnly) {
  const std::vector<std::string> env = {"RANKING=9", "RANK=3", "EMPTY="};
  EXPECT_EQ(FindVariable(env, "RANK"), "3");
  EXPECT_EQ(FindVariable(env, "EMPTY"), "");
  EXPECT_FALSE(FindVariable(env, "RAN").has_value());
  EXPECT_FALSE(FindVariable(env, "MISSING").has_value());
}

TEST(FindInPathTest, FirstExecutableFileWins) {
  EXPECT_EQ(FindInPath("sh", "/nonexistent:/bin:/usr/bin"), std::filesystem::path("/bin/sh"));
  EXPECT_TRUE(FindInPath("no-such-program-here", "/bin:/usr/bin").empty());
  EXPECT_TRUE(FindInPath("bin", "/usr").empty());  // a folder is not a program
}

TEST(ReadFirstLineTest, TakesOneLineAndLeavesTheRest) {
  auto pipe = MakePipe();
  ASSERT_TRUE(pipe.ok());
  ASSERT_EQ(::write(pipe->second.get(), "hello\nrest", 10), 10);
  EXPECT_EQ(*ReadFirstLine(pipe->first.get(), std::chrono::seconds(5)), "hello");
  EXPECT_EQ(ReadFirstLine(pipe->first.get(), std::chrono::milliseconds(50)).status().code(),
            StatusCode::kDeadlineExceeded);
  pipe->second.reset();
  EXPECT_EQ(ReadFirstLine(pipe->first.get(), std::chrono::seconds(5)).status().code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace kiln
