// The hierarchical allreduce with ranks as threads of one process, given node names that
// put them on "nodes": each node's shared memory, a ring between the nodes' leaders.

#include "collective/hierarchical_data_plane.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "collective/ring_data_plane.h"

namespace kiln::collective {
namespace {

void OnEveryRank(int size, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back([&, r] { body(r); });
  for (std::thread& thread : threads) thread.join();
}

// Rank r on node nodes[r].
std::vector<std::unique_ptr<DataPlane>> Planes(const std::vector<std::string>& nodes) {
  const int size = static_cast<int>(nodes.size());
  Result<std::vector<Mesh>> meshes = LocalMeshes(size);
  KILN_CHECK(meshes.ok());
  std::vector<std::unique_ptr<DataPlane>> planes(nodes.size());
  OnEveryRank(size, [&](int r) {
    const auto at = static_cast<size_t>(r);
    Result<std::unique_ptr<DataPlane>> plane =
        HierarchicalDataPlane::Wrap(std::make_unique<RingDataPlane>(std::move((*meshes)[at])), r,
                                    size, nodes[at], std::chrono::microseconds(50));
    KILN_CHECK(plane.ok());
    planes[at] = std::move(plane).value();
  });
  return planes;
}

TEST(HierarchicalDataPlaneTest, SumsMinimaAndOtherOpsMatchTheFlatRingOnUnevenNodes) {
  // Ranks of a node need not be consecutive; node b has one rank, node a three.
  std::vector<std::unique_ptr<DataPlane>> planes = Planes({"a", "c", "a", "b", "c", "a"});
  const int size = static_cast<int>(planes.size());
  EXPECT_EQ(planes[0]->Name(), "tcp+shm+hier");
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax}) {
    // Larger than a shared-memory slot, so the node step takes several chunks.
    for (size_t count : {size_t{1}, size_t{1000}, size_t{100'000}}) {
      std::vector<std::vector<double>> buffers(planes.size());
      OnEveryRank(size, [&](int r) {
        std::vector<double>& buffer = buffers[static_cast<size_t>(r)];
        for (size_t i = 0; i < count; ++i) buffer.push_back(static_cast<double>((r * 7 + i) % 11));
        KILN_CHECK(planes[static_cast<size_t>(r)]
                       ->Allreduce(buffer.data(), count, DataType::kFloat64, op)
                       .ok());
      });
      for (size_t i = 0; i < count; ++i) {
        double want = op == ReduceOp::kSum ? 0 : (op == ReduceOp::kMin ? 1e9 : -1e9);
        for (int r = 0; r < size; ++r) {
          const double v = static_cast<double>((r * 7 + i) % 11);
          want = op == ReduceOp::kSum   ? want + v
                 : op == ReduceOp::kMin ? std::min(want, v)
                                        : std::max(want, v);
        }
        for (int r = 0; r < size; ++r) {
          ASSERT_EQ(buffers[static_cast<size_t>(r)][i], want) << "rank " << r << " at " << i;
        }
      }
    }
  }
  // The other ops go to the flat plane.
  OnEveryRank(size, [&](int r) {
    int64_t value = r == 4 ? 42 : -1;
    KILN_CHECK(planes[static_cast<size_t>(r)]->Broadcast(&value, sizeof(value), 4).ok());
    KILN_CHECK(value == 42);
  });
}

TEST(HierarchicalDataPlaneTest, OneNodeOrOneRankPerNodeKeepsTheFlatPlane) {
  EXPECT_EQ(Planes({"a", "a", "a"})[0]->Name(), "tcp");
  EXPECT_EQ(Planes({"a", "b", "c"})[0]->Name(), "tcp");
}

}  // namespace
}  // namespace kiln::collective
