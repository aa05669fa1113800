#include "collective/coordinator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kiln::collective {
namespace {

using ::testing::HasSubstr;

Request Allreduce(std::string name, std::vector<int64_t> shape = {4}) {
  Request request;
  request.name = std::move(name);
  request.shape = std::move(shape);
  return request;
}

RequestList List(std::vector<Request> requests, std::vector<uint64_t> cached = {}) {
  RequestList list;
  list.requests = std::move(requests);
  list.cached = std::move(cached);
  return list;
}

const Clock::time_point t0 = Clock::now();

TEST(CoordinatorTest, ATensorIsReadyWhenEveryRankAskedInAnyOrder) {
  Coordinator c(2, {});
  c.Add(0, List({Allreduce("a"), Allreduce("b")}), t0);
  EXPECT_TRUE(c.TakeReady(t0).empty());
  c.Add(1, List({Allreduce("b")}), t0);
  // b is ready but a waits on rank 1: b is held while requests keep coming, at most for
  // the cycle time, then released alone.
  EXPECT_TRUE(c.TakeReady(t0).empty());
  EXPECT_TRUE(c.TakeReady(t0 + std::chrono::microseconds(100)).empty());
  const std::vector<Response> later = c.TakeReady(t0 + std::chrono::microseconds(250));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].names, std::vector<std::string>{"b"});
  c.Add(1, List({Allreduce("a")}), t0);
  const std::vector<Response> now = c.TakeReady(t0);  // nothing half-asked: no hold
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].names, std::vector<std::string>{"a"});
}

TEST(CoordinatorTest, SecondTimeARequestTravelsAsACacheBit) {
  Coordinator c(2, {});
  c.Add(0, List({Allreduce("w")}), t0);
  c.Add(1, List({Allreduce("w")}), t0);
  const std::vector<Response> first = c.TakeReady(t0);
  ASSERT_EQ(first.size(), 1u);
  const int32_t slot = first[0].cache_slots[0];
  ASSERT_GE(slot, 0);
  std::vector<uint64_t> bits;
  SetBit(bits, slot);
  c.Add(0, List({}, bits), t0);
  EXPECT_TRUE(c.TakeReady(t0).empty());  // the AND is empty until rank 1's bit comes
  c.Add(1, List({}, bits), t0);
  const std::vector<Response> hit = c.TakeReady(t0);
  ASSERT_EQ(hit.size(), 1u);
  EXPECT_EQ(hit[0].cache_slots, std::vector<int32_t>{slot});
  EXPECT_EQ(hit[0].names, std::vector<std::string>{""});  // the slot alone
  EXPECT_EQ(hit[0].element_counts, std::vector<int64_t>{4});
}

TEST(CoordinatorTest, AShapeChangedOnOneRankIsAMismatchEvenWhenOthersSendTheBit) {
  Coordinator c(2, {});
  c.Add(0, List({Allreduce("w")}), t0);
  c.Add(1, List({Allreduce("w")}), t0);
  const int32_t slot = c.TakeReady(t0)[0].cache_slots[0];
  std::vector<uint64_t> bits;
  SetBit(bits, slot);
  c.Add(0, List({}, bits), t0);
  c.Add(1, List({Allreduce("w", {5})}), t0);
  const std::vector<Response> out = c.TakeReady(t0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Response::Kind::kError);
  EXPECT_THAT(out[0].error, HasSubstr("rank 0 has [4], rank 1 has [5]"));
}

TEST(CoordinatorTest, MismatchesNameTheTensorTheRanksAndTheValues) {
  Coordinator c(2, {});
  Request a = Allreduce("t");
  Request b = Allreduce("t");
  b.dtype = DataType::kInt64;
  c.Add(0, List({a}), t0);
  c.Add(1, List({b}), t0);
  std::vector<Response> out = c.TakeReady(t0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(
      out[0].error,
      "Mismatched data types on tensor 't' (allreduce): rank 0 has float32, rank 1 has int64.");
  Request bcast0 = Allreduce("r");
  bcast0.op = OpType::kBroadcast;
  bcast0.root = 0;
  Request bcast1 = bcast0;
  bcast1.root = 1;
  c.Add(0, List({bcast0}), t0);
  c.Add(1, List({bcast1}), t0);
  out = c.TakeReady(t0);
  EXPECT_THAT(out[0].error, HasSubstr("rank 0 has root 0, rank 1 has root 1"));
}

TEST(CoordinatorTest, FusesAllreducesOfOneKindUpToTheThreshold) {
  CoordinatorOptions options;
  options.fusion_threshold = 40;  // ten float32s
  Coordinator c(1, options);
  Request doubles = Allreduce("d");
  doubles.dtype = DataType::kFloat64;
  c.Add(0, List({Allreduce("a"), Allreduce("b"), doubles, Allreduce("c")}), t0);
  const std::vector<Response> out = c.TakeReady(t0);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].names, (std::vector<std::string>{"a", "b"}));  // 32 bytes; c would be 48
  EXPECT_EQ(out[1].names, (std::vector<std::string>{"c"}));
  EXPECT_EQ(out[2].names, (std::vector<std::string>{"d"}));
}

TEST(CoordinatorTest, StallWarningsNameTheMissingRanksOncePerPeriod) {
  CoordinatorOptions options;
  options.stall_time = std::chrono::seconds(5);
  Coordinator c(3, options);
  c.Add(0, List({Allreduce("late")}), t0);
  c.Add(2, List({Allreduce("late")}), t0);
  EXPECT_TRUE(c.StallWarnings(t0 + std::chrono::seconds(4)).empty());
  const std::vector<std::string> lines = c.StallWarnings(t0 + std::chrono::seconds(6));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "'late' submitted by ranks [0, 2], missing ranks [1]");
  EXPECT_TRUE(c.StallWarnings(t0 + std::chrono::seconds(7)).empty());
  EXPECT_EQ(c.StallWarnings(t0 + std::chrono::seconds(12)).size(), 1u);
}

TEST(CoordinatorTest, ProcessSetsWaitForTheirRanksAloneAndRefuseStrangers) {
  Coordinator c(3, {});
  c.AddProcessSet(1, {0, 2});
  Request in_set = Allreduce("g");
  in_set.process_set = 1;
  c.Add(0, List({in_set}), t0);
  c.Add(2, List({in_set}), t0);
  const std::vector<Response> ready = c.TakeReady(t0);  // rank 1 is not asked
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].kind, Response::Kind::kRun);
  EXPECT_EQ(ready[0].process_set, 1);
  // Rank 1 is not in set 1; set 7 was never added. Both fail at once, naming why.
  Request unknown = Allreduce("u");
  unknown.process_set = 7;
  c.Add(1, List({in_set, unknown}), t0);
  const std::vector<Response> refused = c.TakeReady(t0);
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_THAT(refused[0].error, HasSubstr("does not include that rank"));
  EXPECT_THAT(refused[1].error, HasSubstr("rank 0 does not know"));
  // A stalled tensor names the set and only its missing ranks; removing the set fails it.
  CoordinatorOptions options;
  options.stall_time = std::chrono::seconds(1);
  Coordinator stalled(3, options);
  stalled.AddProcessSet(1, {1, 2});
  in_set.process_set = 1;
  stalled.Add(1, List({in_set}), t0);
  EXPECT_TRUE(stalled.TakeReady(t0).empty());
  EXPECT_THAT(
      stalled.StallWarnings(t0 + std::chrono::seconds(2)),
      ::testing::ElementsAre("'g' (process set 1) submitted by ranks [1], missing ranks [2]"));
  stalled.RemoveProcessSet(1);
  const std::vector<Response> removed = stalled.TakeReady(t0);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_THAT(removed[0].error, HasSubstr("Process set 1 was removed while tensor 'g' waited"));
}

TEST(CoordinatorTest, JoinedRanksCountAsAskingAndJoinEndsWithTheLastRank) {
  Coordinator c(2, {});
  Request join;
  join.name = "join";
  join.op = OpType::kJoin;
  c.Add(1, List({join}), t0);
  c.Add(0, List({Allreduce("g")}), t0);
  std::vector<Response> out = c.TakeReady(t0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].names, std::vector<std::string>{"g"});
  Request gather = Allreduce("x");
  gather.op = OpType::kAllgather;
  c.Add(0, List({gather}), t0);
  out = c.TakeReady(t0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(out[0].error, HasSubstr("only allreduce runs alongside join"));
  c.Add(0, List({join}), t0);
  out = c.TakeReady(t0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].op, OpType::kJoin);
  EXPECT_EQ(out[0].last_joined_rank, 0);
}

}  // namespace
}  // namespace kiln::collective
