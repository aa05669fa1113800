// The shared-memory allreduce with ranks as threads of one process (and, for a rank that
// exits, as a forked process), over a ring data plane on socketpairs for setting it up.

#include "collective/shared_memory_data_plane.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "collective/ring_data_plane.h"

namespace kiln::collective {
namespace {

using ::testing::HasSubstr;

std::vector<std::unique_ptr<DataPlane>> SharedPlanes(int size) {
  Result<std::vector<Mesh>> meshes = LocalMeshes(size);
  KILN_CHECK(meshes.ok());
  std::vector<std::unique_ptr<DataPlane>> planes(static_cast<size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      auto ring = std::make_unique<RingDataPlane>(std::move((*meshes)[static_cast<size_t>(r)]));
      Result<std::unique_ptr<DataPlane>> wrapped =
          SharedMemoryDataPlane::Wrap(std::move(ring), r, size, std::chrono::microseconds(50));
      KILN_CHECK(wrapped.ok());
      planes[static_cast<size_t>(r)] = std::move(wrapped).value();
    });
  }
  for (std::thread& thread : threads) thread.join();
  return planes;
}

void OnEveryRank(int size, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back([&, r] { body(r); });
  for (std::thread& thread : threads) thread.join();
}

// Values whose sum, min, max and product over four ranks fit every type.
template <typename T>
T Value(int rank, size_t i) {
  return static_cast<T>(1 + (rank + i) % 3);
}

template <typename T>
void CheckAllreduce(std::vector<std::unique_ptr<DataPlane>>& planes, DataType type, ReduceOp op,
                    size_t count) {
  const int size = static_cast<int>(planes.size());
  std::vector<std::vector<T>> buffers(planes.size());
  OnEveryRank(size, [&](int r) {
    std::vector<T>& buffer = buffers[static_cast<size_t>(r)];
    buffer.resize(count);
    for (size_t i = 0; i < count; ++i) buffer[i] = Value<T>(r, i);
    const Status status = planes[static_cast<size_t>(r)]->Allreduce(buffer.data(), count, type, op);
    KILN_CHECK(status.ok());
  });
  for (size_t i = 0; i < count; ++i) {
    T want = Value<T>(0, i);
    for (int r = 1; r < size; ++r) {
      const T v = Value<T>(r, i);
      switch (op) {
        case ReduceOp::kAverage:
        case ReduceOp::kSum:
          want = static_cast<T>(want + v);
          break;
        case ReduceOp::kMin:
          want = std::min(want, v);
          break;
        case ReduceOp::kMax:
          want = std::max(want, v);
          break;
        case ReduceOp::kProduct:
          want = static_cast<T>(want * v);
          break;
      }
    }
    ASSERT_EQ(buffers[0][i], want)
        << DataTypeName(type) << " " << ReduceOpName(op) << " count " << count << " at " << i;
  }
  // Each part is reduced by one rank and copied: every rank holds the same bytes.
  for (int r = 1; r < size && count > 0; ++r) {
    ASSERT_EQ(
        std::memcmp(buffers[0].data(), buffers[static_cast<size_t>(r)].data(), count * sizeof(T)),
        0);
  }
}

class SharedMemoryTest : public ::testing::TestWithParam<int> {};

TEST_P(SharedMemoryTest, AllreducesEveryOpAndTypeAcrossChunks) {
  std::vector<std::unique_ptr<DataPlane>> planes = SharedPlanes(GetParam());
  ASSERT_EQ(planes[0]->Name(), "tcp+shm");
  const size_t floats_per_slot = SharedMemoryDataPlane::kSlotBytes / sizeof(float);
  // Empty, fewer elements than ranks, odd, and several chunks with a partial last one; one
  // after another, so the slots' alternation and the counters carry over between calls.
  for (size_t count : {size_t{0}, size_t{1}, size_t{3}, size_t{1025}, 5 * floats_per_slot + 7}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kProduct}) {
      CheckAllreduce<float>(planes, DataType::kFloat32, op, count);
      CheckAllreduce<int32_t>(planes, DataType::kInt32, op, count);
    }
  }
  for (size_t count : {size_t{1}, size_t{999}, 3 * floats_per_slot + 1}) {
    CheckAllreduce<uint8_t>(planes, DataType::kUInt8, ReduceOp::kMax, count);
    CheckAllreduce<int8_t>(planes, DataType::kInt8, ReduceOp::kSum, count);
    CheckAllreduce<int64_t>(planes, DataType::kInt64, ReduceOp::kProduct, count);
    CheckAllreduce<double>(planes, DataType::kFloat64, ReduceOp::kAverage, count);
  }
}

TEST_P(SharedMemoryTest, OtherOpsGoToTheWrappedPlane) {
  const int size = GetParam();
  std::vector<std::unique_ptr<DataPlane>> planes = SharedPlanes(size);
  OnEveryRank(size, [&](int r) {
    int value = r == 0 ? 42 : 0;
    KILN_CHECK(planes[static_cast<size_t>(r)]->Broadcast(&value, sizeof(value), 0).ok());
    KILN_CHECK(value == 42);
    std::vector<int> gathered(static_cast<size_t>(size));
    const int mine = r * 10;
    KILN_CHECK(planes[static_cast<size_t>(r)]
                   ->Allgatherv(&mine, gathered.data(),
                                std::vector<size_t>(static_cast<size_t>(size), sizeof(int)))
                   .ok());
    for (int s = 0; s < size; ++s) KILN_CHECK(gathered[static_cast<size_t>(s)] == s * 10);
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, SharedMemoryTest, ::testing::Values(2, 3, 4));

TEST(SharedMemoryDataPlaneTest, LeavesNothingInDevShm) {
  std::vector<std::unique_ptr<DataPlane>> planes = SharedPlanes(2);
  const std::string prefix = fmt::format("kiln-hvd-{}-", getpid());
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
    EXPECT_FALSE(entry.path().filename().string().starts_with(prefix)) << entry.path();
  }
}

TEST(SharedMemoryDataPlaneTest, ARankThatExitsFailsTheOthersAllreduce) {
  Result<std::vector<Mesh>> meshes = LocalMeshes(2);
  ASSERT_TRUE(meshes.ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto ring = std::make_unique<RingDataPlane>(std::move((*meshes)[1]));
    Result<std::unique_ptr<DataPlane>> plane =
        SharedMemoryDataPlane::Wrap(std::move(ring), 1, 2, std::chrono::microseconds(50));
    _exit(plane.ok() ? 0 : 1);  // gone before its first allreduce
  }
  auto ring = std::make_unique<RingDataPlane>(std::move((*meshes)[0]));
  Result<std::unique_ptr<DataPlane>> plane =
      SharedMemoryDataPlane::Wrap(std::move(ring), 0, 2, std::chrono::microseconds(50));
  ASSERT_TRUE(plane.ok()) << plane.status().message();
  ASSERT_EQ((*plane)->Name(), "tcp+shm");
  std::vector<float> buffer(1000, 1.0f);
  // The child is a zombie until reaped: exited all the same.
  const Status status =
      (*plane)->Allreduce(buffer.data(), buffer.size(), DataType::kFloat32, ReduceOp::kSum);
  EXPECT_THAT(status.message(), HasSubstr(fmt::format("rank 1 (pid {}) exited", child)));
  // And stays failed: the counters no longer agree.
  EXPECT_FALSE((*plane)->Allreduce(buffer.data(), 1, DataType::kFloat32, ReduceOp::kSum).ok());
  int child_status = 0;
  waitpid(child, &child_status, 0);
  EXPECT_EQ(WEXITSTATUS(child_status), 0);
}

}  // namespace
}  // namespace kiln::collective
