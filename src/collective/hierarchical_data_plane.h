#pragma once

// Allreduce for ranks on several nodes with several ranks on some of them, in three steps:
//
//   1. the ranks of each node allreduce among themselves, through shared memory where
//      they can (shared_memory_data_plane.h), else on their subset of the inner plane;
//   2. the first rank of each node (its leader) allreduces the node's result with the other
//      leaders on their subset of the inner plane: one rank per node crosses the network;
//   3. each leader broadcasts the result to its node's ranks.
//
// So the bytes that cross the network are those of one rank per node instead of every
// rank's, and within a node they move through memory. Every other op, and allreduce for a
// process set's subset, goes to the inner plane.

#include <chrono>
#include <memory>
#include <string>

#include "collective/forwarding_data_plane.h"
#include "common/result.h"

namespace kiln::collective {

class HierarchicalDataPlane : public ForwardingDataPlane {
 public:
  // Collective over `inner`, whose rank this is: learns every rank's `node` (any text that
  // is equal for ranks on one machine: the host name), then makes each node's plane and the
  // leaders' plane. Returns `inner` itself when there is nothing to gain: every rank on one
  // node, or one rank on every node.
  static Result<std::unique_ptr<DataPlane>> Wrap(std::unique_ptr<DataPlane> inner, int rank,
                                                 int size, const std::string& node,
                                                 std::chrono::microseconds spin);

  // "mpi+shm+hier", "tcp+shm+hier"; without shared memory within nodes, "tcp+hier".
  std::string_view Name() const override { return name_; }
  Status Allreduce(void* buffer, size_t count, DataType type, ReduceOp op) override;

 private:
  HierarchicalDataPlane(std::unique_ptr<DataPlane> inner, std::unique_ptr<DataPlane> local,
                        std::unique_ptr<DataPlane> leaders);

  std::unique_ptr<DataPlane> local_;    // this node's ranks; this node's leader is its rank 0
  std::unique_ptr<DataPlane> leaders_;  // the leaders' plane; null on the other ranks
  std::string name_;
};

}  // namespace kiln::collective
