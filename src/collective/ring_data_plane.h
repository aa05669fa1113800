#pragma once

// The data plane over a full TCP (or socketpair) mesh: ring allreduce (reduce-scatter then
// allgather, 2(n-1) steps each moving 1/n of the buffer, so its bus bandwidth approaches
// the link's), ring allgather, pairwise alltoall, broadcast from the root to each rank.

#include <vector>

#include "collective/data_plane.h"
#include "collective/mesh.h"

namespace kiln::collective {

class RingDataPlane : public DataPlane {
 public:
  explicit RingDataPlane(Mesh mesh) : mesh_(std::move(mesh)) {}

  std::string_view Name() const override { return "tcp"; }
  Status Allreduce(void* buffer, size_t count, DataType type, ReduceOp op) override;
  Status Allgatherv(const void* send, void* recv, const std::vector<size_t>& bytes) override;
  Status Broadcast(void* buffer, size_t bytes, int root) override;
  Status Alltoallv(const void* send, const std::vector<size_t>& send_bytes, void* recv,
                   const std::vector<size_t>& recv_bytes) override;
  Status ReduceScatter(void* buffer, const std::vector<size_t>& counts, void* out, DataType type,
                       ReduceOp op) override;
  Result<std::unique_ptr<DataPlane>> Subset(const std::vector<int>& members) override;

 private:
  // The reduce-scatter half of the ring over blocks of counts[r] elements: afterwards
  // block r of `buffer` on rank r holds the reduction of every rank's block r.
  Status RingReduceScatter(char* buffer, const std::vector<size_t>& counts, DataType type,
                           ReduceOp op);
  // The allgather half: rank r's block r (bytes[r] at offset sum(bytes[<r])) reaches all.
  Status RingAllgather(char* buffer, const std::vector<size_t>& bytes);

  Mesh mesh_;
  std::vector<char> scratch_;
};

}  // namespace kiln::collective
