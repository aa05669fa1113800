#pragma once

// How tensor bytes move between ranks once the coordinator has said what runs: Open MPI
// when the ranks run under mpirun (mpi_data_plane.h), a ring over the TCP mesh otherwise
// (ring_data_plane.h). Every call is collective: all ranks make it, in the same order,
// with matching arguments; the controller guarantees both.

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "collective/data_type.h"
#include "common/result.h"

namespace kiln::collective {

class DataPlane {
 public:
  virtual ~DataPlane() = default;

  virtual std::string_view Name() const = 0;  // "mpi", "tcp"

  // In place over `count` elements; Average reduces as Sum.
  virtual Status Allreduce(void* buffer, size_t count, DataType type, ReduceOp op) = 0;
  // Rank r contributes bytes[r] bytes; `recv` receives every block, rank order.
  virtual Status Allgatherv(const void* send, void* recv, const std::vector<size_t>& bytes) = 0;
  virtual Status Broadcast(void* buffer, size_t bytes, int root) = 0;
  // send_bytes[r] bytes of `send` go to rank r, in rank order; recv_bytes[r] come from r.
  virtual Status Alltoallv(const void* send, const std::vector<size_t>& send_bytes, void* recv,
                           const std::vector<size_t>& recv_bytes) = 0;
  // Reduces `buffer` (sum of counts elements) and leaves rank r's block, counts[r]
  // elements in rank order, in `out`. `buffer` may be overwritten.
  virtual Status ReduceScatter(void* buffer, const std::vector<size_t>& counts, void* out,
                               DataType type, ReduceOp op) = 0;

  // A plane over the ranks `members` of this one (sorted, this rank among them), on which
  // rank i is members[i]: a process set's. Collective over the members only, the others
  // take no part; it shares this plane's connections, so the two are never used at once.
  virtual Result<std::unique_ptr<DataPlane>> Subset(const std::vector<int>& members) = 0;
};

}  // namespace kiln::collective
