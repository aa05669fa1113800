#pragma once

// The data plane over Open MPI, for ranks that mpirun started: MPI_Allreduce in place,
// MPI_Allgatherv, MPI_Bcast, MPI_Alltoallv and MPI_Reduce_scatter on a communicator of
// the runtime's own (a duplicate of MPI_COMM_WORLD, so a script's own MPI calls cannot
// interleave with it). float16 has no MPI type: it travels as 2-byte elements reduced by
// operators of the runtime's own.

#include <memory>

#include "collective/data_plane.h"
#include "common/result.h"

namespace kiln::collective {

// True when this process was started by Open MPI's mpirun (OMPI_COMM_WORLD_SIZE is set).
bool RunningUnderMpirun();

class MpiDataPlane : public DataPlane {
 public:
  // Initialises MPI (MPI_THREAD_MULTIPLE, or takes the MPI a script initialised already).
  static Result<std::unique_ptr<MpiDataPlane>> Start();
  ~MpiDataPlane() override;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Every rank gets rank 0's `text` (the control plane's rendezvous address).
  Result<std::string> BroadcastString(const std::string& text);

  std::string_view Name() const override { return "mpi"; }
  Status Allreduce(void* buffer, size_t count, DataType type, ReduceOp op) override;
  Status Allgatherv(const void* send, void* recv, const std::vector<size_t>& bytes) override;
  Status Broadcast(void* buffer, size_t bytes, int root) override;
  Status Alltoallv(const void* send, const std::vector<size_t>& send_bytes, void* recv,
                   const std::vector<size_t>& recv_bytes) override;
  Status ReduceScatter(void* buffer, const std::vector<size_t>& counts, void* out, DataType type,
                       ReduceOp op) override;
  // A communicator of the members (MPI_Comm_create_group: collective over them alone).
  Result<std::unique_ptr<DataPlane>> Subset(const std::vector<int>& members) override;

  struct State;  // Open MPI's handles, kept out of this header

 private:
  explicit MpiDataPlane(std::unique_ptr<State> state, int rank, int size);

  std::unique_ptr<State> state_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace kiln::collective
