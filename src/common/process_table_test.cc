#include "common/process_table.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "common/random.h"
#include "common/subprocess.h"

namespace kiln {
namespace {

bool Contains(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

TEST(ProcessTableTest, FindsDescendantsAndMarkedProcesses) {
  const std::string marker = "KILN_TEST_MARK=" + RandomHex(12);
  std::vector<std::string> env = CurrentEnvironment();
  env.push_back(marker);
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "sleep 30 & wait"};
  options.env = env;
  options.new_process_group = true;
  auto shell = RealSpawner().Spawn(options);
  ASSERT_TRUE(shell.ok());

  std::vector<pid_t> descendants;
  for (int i = 0; i < 200 && descendants.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    descendants = FindDescendants(shell->pid());
  }
  ASSERT_EQ(descendants.size(), 1u);
  const std::vector<pid_t> marked = FindProcessesWithEnvironment(marker);
  EXPECT_EQ(marked.size(), 2u);
  EXPECT_TRUE(Contains(marked, shell->pid()));
  EXPECT_TRUE(Contains(marked, descendants[0]));
  EXPECT_TRUE(Contains(FindDescendants(::getpid()), descendants[0]));
  EXPECT_TRUE(ProcessStartTicks(shell->pid()).has_value());

  ::kill(-shell->pid(), SIGKILL);
  ASSERT_TRUE(shell->Wait().ok());
  for (int i = 0; i < 200 && !FindProcessesWithEnvironment(marker).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(FindProcessesWithEnvironment(marker).empty());
  EXPECT_FALSE(ProcessIsLive(shell->pid()));
}

}  // namespace
}  // namespace kiln
