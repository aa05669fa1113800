#include "collective/ring_data_plane.h"

#include <algorithm>
#include <cstring>

namespace kiln::collective {
namespace {

std::vector<size_t> Offsets(const std::vector<size_t>& sizes) {
  std::vector<size_t> offsets(sizes.size(), 0);
  for (size_t i = 1; i < sizes.size(); ++i) offsets[i] = offsets[i - 1] + sizes[i - 1];
  return offsets;
}

// `count` elements split into `parts` blocks whose sizes differ by at most one.
std::vector<size_t> EvenCounts(size_t count, int parts) {
  std::vector<size_t> counts(static_cast<size_t>(parts), count / static_cast<size_t>(parts));
  for (size_t i = 0; i < count % static_cast<size_t>(parts); ++i) ++counts[i];
  return counts;
}

}  // namespace

Status RingDataPlane::RingReduceScatter(char* buffer, const std::vector<size_t>& counts,
                                        DataType type, ReduceOp op) {
  const int n = mesh_.size();
  const int r = mesh_.rank();
  const size_t element = ElementSize(type);
  const std::vector<size_t> offsets = Offsets(counts);
  const size_t largest = *std::max_element(counts.begin(), counts.end());
  if (scratch_.size() < largest * element) scratch_.resize(largest * element);
  const int next = (r + 1) % n;
  const int prev = (r + n - 1) % n;
  const auto block = [&](int b) { return static_cast<size_t>(((b % n) + n) % n); };
  // Step s sends block r-s-1 (reduced in step s-1) and receives block r-s-2; after n-1
  // steps the block received last is block r, reduced over every rank.
  for (int s = 0; s < n - 1; ++s) {
    const size_t send = block(r - s - 1);
    const size_t recv = block(r - s - 2);
    KILN_RETURN_IF_ERROR(mesh_.SendRecv(next, buffer + offsets[send] * element,
                                        counts[send] * element, prev, scratch_.data(),
                                        counts[recv] * element));
    ReduceInto(buffer + offsets[recv] * element, scratch_.data(), counts[recv], type, op);
  }
  return Status::Ok();
}

Status RingDataPlane::RingAllgather(char* buffer, const std::vector<size_t>& bytes) {
  const int n = mesh_.size();
  const int r = mesh_.rank();
  const std::vector<size_t> offsets = Offsets(bytes);
  const int next = (r + 1) % n;
  const int prev = (r + n - 1) % n;
  const auto block = [&](int b) { return static_cast<size_t>(((b % n) + n) % n); };
  for (int s = 0; s < n - 1; ++s) {
    const size_t send = block(r - s);
    const size_t recv = block(r - s - 1);
    KILN_RETURN_IF_ERROR(mesh_.SendRecv(next, buffer + offsets[send], bytes[send], prev,
                                        buffer + offsets[recv], bytes[recv]));
  }
  return Status::Ok();
}

Status RingDataPlane::Allreduce(void* buffer, size_t count, DataType type, ReduceOp op) {
  const int n = mesh_.size();
  if (n == 1 || count == 0) return Status::Ok();
  const std::vector<size_t> counts = EvenCounts(count, n);
  auto* data = static_cast<char*>(buffer);
  KILN_RETURN_IF_ERROR(RingReduceScatter(data, counts, type, op));
  std::vector<size_t> bytes(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) bytes[i] = counts[i] * ElementSize(type);
  return RingAllgather(data, bytes);
}

Status RingDataPlane::Allgatherv(const void* send, void* recv, const std::vector<size_t>& bytes) {
  const size_t offset = Offsets(bytes)[static_cast<size_t>(mesh_.rank())];
  auto* out = static_cast<char*>(recv);
  const size_t own = bytes[static_cast<size_t>(mesh_.rank())];
  if (own > 0 && out + offset != send) std::memmove(out + offset, send, own);
  if (mesh_.size() == 1) return Status::Ok();
  return RingAllgather(out, bytes);
}

Status RingDataPlane::Broadcast(void* buffer, size_t bytes, int root) {
  if (mesh_.size() == 1 || bytes == 0) return Status::Ok();
  if (mesh_.rank() != root) return mesh_.Recv(root, buffer, bytes);
  for (int peer = 0; peer < mesh_.size(); ++peer) {
    if (peer != root) KILN_RETURN_IF_ERROR(mesh_.Send(peer, buffer, bytes));
  }
  return Status::Ok();
}

Status RingDataPlane::Alltoallv(const void* send, const std::vector<size_t>& send_bytes, void* recv,
                                const std::vector<size_t>& recv_bytes) {
  const int n = mesh_.size();
  const int r = mesh_.rank();
  const std::vector<size_t> send_offsets = Offsets(send_bytes);
  const std::vector<size_t> recv_offsets = Offsets(recv_bytes);
  const auto* in = static_cast<const char*>(send);
  auto* out = static_cast<char*>(recv);
  const auto self = static_cast<size_t>(r);
  if (recv_bytes[self] > 0) {
    std::memcpy(out + recv_offsets[self], in + send_offsets[self], recv_bytes[self]);
  }
  // Step s: send to r+s while receiving from r-s, so every pair meets once.
  for (int s = 1; s < n; ++s) {
    const int to = (r + s) % n;
    const int from = (r - s + n) % n;
    const auto t = static_cast<size_t>(to);
    const auto f = static_cast<size_t>(from);
    KILN_RETURN_IF_ERROR(mesh_.SendRecv(to, in + send_offsets[t], send_bytes[t], from,
                                        out + recv_offsets[f], recv_bytes[f]));
  }
  return Status::Ok();
}

Status RingDataPlane::ReduceScatter(void* buffer, const std::vector<size_t>& counts, void* out,
                                    DataType type, ReduceOp op) {
  auto* data = static_cast<char*>(buffer);
  if (mesh_.size() > 1) KILN_RETURN_IF_ERROR(RingReduceScatter(data, counts, type, op));
  const auto self = static_cast<size_t>(mesh_.rank());
  const size_t bytes = counts[self] * ElementSize(type);
  if (bytes > 0) std::memcpy(out, data + Offsets(counts)[self] * ElementSize(type), bytes);
  return Status::Ok();
}

Result<std::unique_ptr<DataPlane>> RingDataPlane::Subset(const std::vector<int>& members) {
  KILN_ASSIGN_OR_RETURN(Mesh mesh, mesh_.Subset(members));
  return std::unique_ptr<DataPlane>(std::make_unique<RingDataPlane>(std::move(mesh)));
}

}  // namespace kiln::collective
