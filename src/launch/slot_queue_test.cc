#include "launch/slot_queue.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/files.h"
#include "common/test_dir.h"

namespace kiln::launch {
namespace {

SlotRequest Ask(SlotKind kind, int need, std::string group = "", int group_limit = 0) {
  return SlotRequest{"", kind, need, std::move(group), group_limit};
}

SlotQueue QueueOf(const TestDir& dir, int cores) {
  SlotQueue queue(dir.path() / "queue");
  EXPECT_TRUE(queue.WriteSettings({cores, 1}).ok());
  return queue;
}

TEST(SlotQueueTest, FirstComeFirstServed) {
  TestDir dir;
  SlotQueue queue = QueueOf(dir, 2);
  Result<SlotTicket> a = queue.Join("a", 100, Ask(SlotKind::kCores, 2));
  Result<SlotTicket> b = queue.Join("b", 200, Ask(SlotKind::kCores, 1));
  Result<SlotTicket> c = queue.Join("c", 300, Ask(SlotKind::kCores, 1));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  // c asks first, but b came first: c waits behind b.
  EXPECT_FALSE(*c->TryTake());
  EXPECT_TRUE(*a->TryTake());
  EXPECT_FALSE(*b->TryTake());
  EXPECT_EQ(*queue.DescribeWait("b"), "waiting for 1 core; 0 of 2 free; 1st in line");
  EXPECT_EQ(*queue.DescribeWait("c"), "waiting for 1 core; 0 of 2 free; 2nd in line");
  EXPECT_EQ(*queue.DescribeWait("a"), "");

  a->Leave();
  EXPECT_FALSE(*c->TryTake());
  EXPECT_TRUE(*b->TryTake());
  EXPECT_TRUE(*c->TryTake());
  const QueueView view = *queue.View(SlotKind::kCores);
  EXPECT_EQ(view.capacity, 2);
  EXPECT_EQ(view.used, 2);
  ASSERT_EQ(view.holding.size(), 2u);
  EXPECT_TRUE(view.waiting.empty());
}

// A small run does not overtake a large one that came first, even with room for itself.
TEST(SlotQueueTest, NoRunOvertakesAnEarlierOne) {
  TestDir dir;
  SlotQueue queue = QueueOf(dir, 3);
  Result<SlotTicket> a = queue.Join("a", 1, Ask(SlotKind::kCores, 1));
  ASSERT_TRUE(*a->TryTake());
  Result<SlotTicket> big = queue.Join("big", 2, Ask(SlotKind::kCores, 3));
  Result<SlotTicket> small = queue.Join("small", 3, Ask(SlotKind::kCores, 1));
  EXPECT_FALSE(*big->TryTake());
  EXPECT_FALSE(*small->TryTake());
  EXPECT_EQ(*queue.DescribeWait("big"), "waiting for 3 cores; 2 of 3 free; 1st in line");
  EXPECT_EQ(*queue.DescribeWait("small"), "waiting for 1 core; 2 of 3 free; 2nd in line");
  // Leaving the line lets the next one in.
  big->Leave();
  EXPECT_TRUE(*small->TryTake());
}

// GPU runs and CPU runs wait in separate lines.
TEST(SlotQueueTest, KindsWaitApart) {
  TestDir dir;
  SlotQueue queue = QueueOf(dir, 1);
  Result<SlotTicket> gpu = queue.Join("g", 1, Ask(SlotKind::kGpus, 1));
  Result<SlotTicket> gpu2 = queue.Join("g2", 2, Ask(SlotKind::kGpus, 1));
  Result<SlotTicket> cpu = queue.Join("c", 3, Ask(SlotKind::kCores, 1));
  EXPECT_TRUE(*gpu->TryTake());
  EXPECT_FALSE(*gpu2->TryTake());
  EXPECT_TRUE(*cpu->TryTake());
  EXPECT_EQ(*queue.DescribeWait("g2"), "waiting for 1 GPU; 0 of 1 free; 1st in line");
}

// A sweep's trials share a group: past its limit a trial waits, and does not hold up the
// runs behind it.
TEST(SlotQueueTest, AGroupAtItsLimitWaitsWithoutHoldingUpTheLine) {
  TestDir dir;
  SlotQueue queue = QueueOf(dir, 4);
  Result<SlotTicket> first = queue.Join("t0", 1, Ask(SlotKind::kCores, 1, "sweep", 1));
  Result<SlotTicket> second = queue.Join("t1", 2, Ask(SlotKind::kCores, 1, "sweep", 1));
  Result<SlotTicket> other = queue.Join("job", 3, Ask(SlotKind::kCores, 1));
  EXPECT_TRUE(*first->TryTake());
  EXPECT_FALSE(*second->TryTake());
  EXPECT_EQ(*queue.DescribeWait("t1"),
            "waiting for its sweep: 1 of its trials holds slots, at most 1 at once");
  EXPECT_EQ(*queue.DescribeWait("job"), "waiting for 1 core; 3 of 4 free; 1st in line");
  EXPECT_TRUE(*other->TryTake());
  first->Leave();
  EXPECT_TRUE(*second->TryTake());
}

// The place a submitter took is handed over as a descriptor: the launcher finds its waiting
// file by what the descriptor is open on, and leaving removes that file, not another.
TEST(SlotQueueTest, APlaceHandedOverIsAdopted) {
  TestDir dir;
  SlotQueue queue = QueueOf(dir, 1);
  Result<SlotTicket> holder = queue.Join("holder", 1, Ask(SlotKind::kCores, 1));
  ASSERT_TRUE(*holder->TryTake());
  Result<SlotTicket> submitted = queue.Join("run-7", 2, Ask(SlotKind::kCores, 1));
  Result<SlotTicket> other = queue.Join("other-run-7", 3, Ask(SlotKind::kCores, 1));
  const int handed = ::dup(submitted->fd());
  submitted->HandedOver();
  Result<SlotTicket> adopted = queue.Adopt("run-7", Ask(SlotKind::kCores, 1), handed);
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  EXPECT_EQ(*queue.DescribeWait("run-7"), "waiting for 1 core; 0 of 1 free; 1st in line");
  adopted->Leave();
  EXPECT_EQ(*queue.DescribeWait("run-7"), "");
  EXPECT_EQ(*queue.DescribeWait("other-run-7"), "waiting for 1 core; 0 of 1 free; 1st in line");
  EXPECT_EQ(queue.Adopt("gone", Ask(SlotKind::kCores, 1), ::dup(holder->fd())).status().code(),
            StatusCode::kNotFound);
}

// A launcher that dies without leaving (kill -9) frees its slots and its place: its files'
// locks are gone, and the next change removes them.
TEST(SlotQueueTest, ADeadHolderFreesItsSlots) {
  TestDir dir;
  SlotQueue queue = QueueOf(dir, 1);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Result<SlotTicket> held = queue.Join("dead", 1, Ask(SlotKind::kCores, 1));
    Result<SlotTicket> waiting = queue.Join("dead-waiter", 2, Ask(SlotKind::kCores, 1));
    const bool ok = held.ok() && waiting.ok() && *held->TryTake();
    ::_exit(ok ? 0 : 1);  // no destructor runs: the files stay, their locks go
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "queue/holding/dead"));
  EXPECT_EQ(queue.View(SlotKind::kCores)->used, 0);

  Result<SlotTicket> next = queue.Join("next", 3, Ask(SlotKind::kCores, 1));
  EXPECT_TRUE(*next->TryTake());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "queue/holding/dead"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "queue/waiting"));
}

// Capacity lowered below what a waiting run needs: it is told, rather than waiting forever.
TEST(SlotQueueTest, ARunThatCanNoLongerFitIsTold) {
  TestDir dir;
  SlotQueue queue = QueueOf(dir, 4);
  Result<SlotTicket> run = queue.Join("r", 1, Ask(SlotKind::kCores, 3));
  ASSERT_TRUE(queue.WriteSettings({2, std::nullopt}).ok());
  const Result<bool> taken = run->TryTake();
  EXPECT_EQ(taken.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(taken.status().message(),
            "the run needs 3 cores but compute target 'local' now has 2 cores in all (its "
            "settings, `kiln compute set local`, or this machine changed after the run was "
            "submitted)");
}

TEST(SlotQueueTest, Settings) {
  TestDir dir;
  SlotQueue queue(dir.path() / "queue");
  EXPECT_FALSE(queue.ReadSettings()->cores.has_value());
  EXPECT_GE(*queue.Capacity(SlotKind::kCores), 1);
  ASSERT_TRUE(queue.WriteSettings({6, std::nullopt}).ok());
  EXPECT_EQ(queue.ReadSettings()->cores, 6);
  EXPECT_FALSE(queue.ReadSettings()->gpus.has_value());
  EXPECT_EQ(*queue.Capacity(SlotKind::kCores), 6);
  EXPECT_EQ(queue.WriteSettings({0, std::nullopt}).message(),
            "cores must be from 1 to 100000, got 0");
  ASSERT_TRUE(
      WriteFileAtomically(dir.path() / "queue/settings.json", R"({"version": 1, "cores": -2})")
          .ok());
  EXPECT_EQ(queue.ReadSettings().status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(CountOf(1, SlotKind::kGpus), "1 GPU");
  EXPECT_EQ(CountOf(2, SlotKind::kCores), "2 cores");
}

}  // namespace
}  // namespace kiln::launch
