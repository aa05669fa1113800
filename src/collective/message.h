#pragma once

// What ranks tell the coordinator and what it answers (controller.h has the protocol).
// Encoded little-endian and length-checked: a truncated or corrupt message decodes to an
// error, never to garbage.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "collective/data_type.h"
#include "common/result.h"

namespace kiln::collective {

enum class OpType : uint8_t {
  kAllreduce,
  kAllgather,
  kBroadcast,
  kAlltoall,
  kReducescatter,
  kBarrier,
  kJoin
};
std::string_view OpTypeName(OpType op);

// One tensor a rank wants to take part in an operation on.
struct Request {
  std::string name;
  int32_t process_set = 0;  // the ranks it runs on (0: all); names are unique per set
  OpType op = OpType::kAllreduce;
  DataType dtype = DataType::kFloat32;
  ReduceOp reduce_op = ReduceOp::kSum;
  int32_t root = -1;  // broadcast: a rank of the job (a member of the process set)
  std::vector<int64_t> shape;
  double prescale = 1.0;  // allreduce, reducescatter
  double postscale = 1.0;
  std::vector<int64_t> splits;  // alltoall: rows sent to each rank; empty means even

  int64_t NumElements() const;
  // The fields every rank must agree on (name, set, op, dtype, reduce op, root, scales, and the
  // shape where the op needs equal shapes). Equal signatures may share a cache slot.
  bool SameSignature(const Request& other) const;
};

struct RequestList {
  std::vector<Request> requests;  // not in the cache
  std::vector<uint64_t> cached;   // bit s set: the request in cache slot s
  bool shutdown = false;
};

// One operation every rank runs now, on one tensor or on several fused ones.
struct Response {
  enum class Kind : uint8_t { kRun, kError };
  Kind kind = Kind::kRun;
  int32_t process_set = 0;  // only its ranks run it; the others skip it
  OpType op = OpType::kAllreduce;
  DataType dtype = DataType::kFloat32;
  ReduceOp reduce_op = ReduceOp::kSum;
  int32_t root = -1;
  double prescale = 1.0;
  double postscale = 1.0;
  // Fused tensors in order. A cache hit travels as its slot alone, with an empty name that
  // each rank reads from its cache.
  std::vector<std::string> names;
  std::vector<int32_t> cache_slots;     // per name: its slot, or -1 when not cached
  std::vector<int64_t> element_counts;  // allreduce: per name, so joined ranks send zeros
  // Per rank of the process set, in its order: allgather: first dimension on each rank;
  // alltoall: the size x size matrix of splits (row = sender); reducescatter: first
  // dimension each rank receives.
  std::vector<int64_t> sizes;
  int32_t last_joined_rank = -1;  // join
  std::string error;              // kError: the same text on every rank
};

struct ResponseList {
  std::vector<Response> responses;
  bool shutdown = false;
};

std::string EncodeRequestList(const RequestList& list);
Result<RequestList> DecodeRequestList(std::string_view bytes);
std::string EncodeResponseList(const ResponseList& list);
Result<ResponseList> DecodeResponseList(std::string_view bytes);

}  // namespace kiln::collective
