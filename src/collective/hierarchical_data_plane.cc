#include "collective/hierarchical_data_plane.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "collective/shared_memory_data_plane.h"

namespace kiln::collective {
namespace {

// Node names travel as fixed-size blocks; longer ones are cut, which can only merge two
// nodes whose names share this many first bytes (the shared-memory check then refuses).
constexpr size_t kNodeBytes = 64;

}  // namespace

Result<std::unique_ptr<DataPlane>> HierarchicalDataPlane::Wrap(std::unique_ptr<DataPlane> inner,
                                                               int rank, int size,
                                                               const std::string& node,
                                                               std::chrono::microseconds spin) {
  if (size <= 1) return inner;
  std::vector<char> mine(kNodeBytes, '\0');
  std::memcpy(mine.data(), node.data(), std::min(node.size(), kNodeBytes));
  std::vector<char> all(kNodeBytes * static_cast<size_t>(size));
  KILN_RETURN_IF_ERROR(inner->Allgatherv(
      mine.data(), all.data(), std::vector<size_t>(static_cast<size_t>(size), kNodeBytes)));
  // Ranks by node, in order of each node's first rank; ranks in order within a node.
  std::map<std::string, std::vector<int>> by_node;
  std::vector<int> leaders;
  for (int r = 0; r < size; ++r) {
    const char* name = all.data() + kNodeBytes * static_cast<size_t>(r);
    std::vector<int>& ranks = by_node[std::string(name, strnlen(name, kNodeBytes))];
    if (ranks.empty()) leaders.push_back(r);
    ranks.push_back(r);
  }
  const std::vector<int>& local_ranks =
      by_node[std::string(mine.data(), strnlen(mine.data(), kNodeBytes))];
  bool several_on_a_node = false;
  for (const auto& [name, ranks] : by_node) several_on_a_node |= ranks.size() > 1;
  if (by_node.size() == 1 || !several_on_a_node) return inner;

  // Each node's plane (the nodes make theirs at once: their ranks are disjoint), then the
  // leaders'.
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<DataPlane> local, inner->Subset(local_ranks));
  const int local_rank = static_cast<int>(std::find(local_ranks.begin(), local_ranks.end(), rank) -
                                          local_ranks.begin());
  KILN_ASSIGN_OR_RETURN(local,
                        SharedMemoryDataPlane::Wrap(std::move(local), local_rank,
                                                    static_cast<int>(local_ranks.size()), spin));
  std::unique_ptr<DataPlane> across;
  if (local_rank == 0) {
    KILN_ASSIGN_OR_RETURN(across, inner->Subset(leaders));
  }
  return std::unique_ptr<DataPlane>(
      new HierarchicalDataPlane(std::move(inner), std::move(local), std::move(across)));
}

HierarchicalDataPlane::HierarchicalDataPlane(std::unique_ptr<DataPlane> inner,
                                             std::unique_ptr<DataPlane> local,
                                             std::unique_ptr<DataPlane> leaders)
    : ForwardingDataPlane(std::move(inner)),
      local_(std::move(local)),
      leaders_(std::move(leaders)),
      name_(fmt::format("{}+hier", local_->Name())) {}

Status HierarchicalDataPlane::Allreduce(void* buffer, size_t count, DataType type, ReduceOp op) {
  if (count == 0) return Status::Ok();
  KILN_RETURN_IF_ERROR(local_->Allreduce(buffer, count, type, op));
  if (leaders_ != nullptr) KILN_RETURN_IF_ERROR(leaders_->Allreduce(buffer, count, type, op));
  return local_->Broadcast(buffer, count * ElementSize(type), 0);
}

}  // namespace kiln::collective
