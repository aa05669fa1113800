#include "launch/launcher_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/test_dir.h"

namespace kiln::launch {
namespace {

TEST(LauncherLockTest, HeldLockMeansAlive) {
  TestDir dir;
  const auto path = dir.path() / "launcher.lock";
  EXPECT_FALSE(*IsLauncherAlive(path));  // no file yet
  {
    auto lock = LauncherLock::Acquire(path);
    ASSERT_TRUE(lock.ok());
    ASSERT_TRUE(lock->RecordOwner().ok());
    EXPECT_TRUE(*IsLauncherAlive(path));
    EXPECT_EQ(LauncherLockOwner(path), ::getpid());
    const auto second = LauncherLock::Acquire(path);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  }
  EXPECT_FALSE(*IsLauncherAlive(path));
}

// Readers probe runs all the time; a probe must never make a submit or a launcher fail to
// take the lock (a probe that took the lock for an instant did, now and then).
TEST(LauncherLockTest, ProbesNeverStandInTheWayOfTakingTheLock) {
  TestDir dir;
  const auto path = dir.path() / "launcher.lock";
  { ASSERT_TRUE(LauncherLock::Acquire(path).ok()); }
  std::atomic<bool> done{false};
  std::atomic<int> probes{0};
  std::thread prober([&] {
    while (!done) {
      if (IsLauncherAlive(path).ok()) ++probes;
    }
  });
  int refused = 0;
  constexpr int kTakes = 20000;
  for (int i = 0; i < kTakes; ++i) {
    auto lock = LauncherLock::Acquire(path);
    if (!lock.ok()) ++refused;
  }
  done = true;
  prober.join();
  EXPECT_EQ(refused, 0) << "of " << kTakes << " takes, with " << probes << " probes at once";
  EXPECT_GT(probes, 0);
}

// The hand-over of design: submit locks, a child inherits the descriptor, submit lets go,
// the child keeps the lock; when the child is killed the lock is free.
TEST(LauncherLockTest, InheritedLockSurvivesTheParentAndDiesWithTheChild) {
  TestDir dir;
  const auto path = dir.path() / "launcher.lock";
  auto lock = LauncherLock::Acquire(path);
  ASSERT_TRUE(lock.ok());
  ASSERT_TRUE(lock->SetInheritable(true).ok());
  const int fd = lock->fd();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(ready[0]);
    auto adopted = LauncherLock::Adopt(fd, path);
    const char ok = adopted.ok() ? 'y' : 'n';
    [[maybe_unused]] auto n = ::write(ready[1], &ok, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char answer = 0;
  ASSERT_EQ(::read(ready[0], &answer, 1), 1);
  EXPECT_EQ(answer, 'y');
  lock->Release();
  EXPECT_TRUE(*IsLauncherAlive(path));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(*IsLauncherAlive(path));
  ::close(ready[0]);
}

TEST(LauncherLockTest, AdoptRefusesAnotherFile) {
  TestDir dir;
  auto lock = LauncherLock::Acquire(dir.path() / "a.lock");
  ASSERT_TRUE(lock.ok());
  auto other = LauncherLock::Acquire(dir.path() / "b.lock");
  ASSERT_TRUE(other.ok());
  const int duplicate = ::dup(lock->fd());
  EXPECT_EQ(LauncherLock::Adopt(duplicate, dir.path() / "b.lock").status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace kiln::launch
