#pragma once

// A data plane that wraps another and forwards every op to it: the base of planes that do
// allreduce their own way (shared memory, hierarchically) and leave the rest as it was.

#include <memory>
#include <utility>

#include "collective/data_plane.h"

namespace kiln::collective {

class ForwardingDataPlane : public DataPlane {
 public:
  Status Allreduce(void* buffer, size_t count, DataType type, ReduceOp op) override {
    return inner_->Allreduce(buffer, count, type, op);
  }
  Status Allgatherv(const void* send, void* recv, const std::vector<size_t>& bytes) override {
    return inner_->Allgatherv(send, recv, bytes);
  }
  Status Broadcast(void* buffer, size_t bytes, int root) override {
    return inner_->Broadcast(buffer, bytes, root);
  }
  Status Alltoallv(const void* send, const std::vector<size_t>& send_bytes, void* recv,
                   const std::vector<size_t>& recv_bytes) override {
    return inner_->Alltoallv(send, send_bytes, recv, recv_bytes);
  }
  Status ReduceScatter(void* buffer, const std::vector<size_t>& counts, void* out, DataType type,
                       ReduceOp op) override {
    return inner_->ReduceScatter(buffer, counts, out, type, op);
  }
  Result<std::unique_ptr<DataPlane>> Subset(const std::vector<int>& members) override {
    return inner_->Subset(members);
  }

 protected:
  explicit ForwardingDataPlane(std::unique_ptr<DataPlane> inner) : inner_(std::move(inner)) {}

  std::unique_ptr<DataPlane> inner_;
};

}  // namespace kiln::collective
