#include "collective/mpi_data_plane.h"

// The C API only: Open MPI's deprecated C++ bindings would need libmpi_cxx at load time.
#define OMPI_SKIP_MPICXX 1
#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

namespace kiln::collective {
namespace {

template <ReduceOp kOp>
void ReduceHalves(void* in, void* inout, int* length, MPI_Datatype* /*type*/) {
  ReduceInto(inout, in, static_cast<size_t>(*length), DataType::kFloat16, kOp);
}

MPI_Datatype MpiType(DataType type, MPI_Datatype half) {
  switch (type) {
    case DataType::kUInt8:
      return MPI_UINT8_T;
    case DataType::kInt8:
      return MPI_INT8_T;
    case DataType::kInt16:
      return MPI_INT16_T;
    case DataType::kBool:
      return MPI_UINT8_T;  // 0 or 1: MpiOp makes or and and of MPI_MAX and MPI_MIN
    case DataType::kInt32:
      return MPI_INT32_T;
    case DataType::kInt64:
      return MPI_INT64_T;
    case DataType::kFloat16:
      return half;
    case DataType::kFloat32:
      return MPI_FLOAT;
    case DataType::kFloat64:
      return MPI_DOUBLE;
  }
  return MPI_BYTE;
}

MPI_Op MpiOp(ReduceOp op, DataType type) {
  if (type == DataType::kBool) {
    return op == ReduceOp::kMin || op == ReduceOp::kProduct ? MPI_MIN : MPI_MAX;
  }
  switch (op) {
    case ReduceOp::kAverage:
    case ReduceOp::kSum:
      return MPI_SUM;
    case ReduceOp::kMin:
      return MPI_MIN;
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kProduct:
      return MPI_PROD;
  }
  return MPI_SUM;
}

Status Check(int rc, std::string_view call) {
  if (rc == MPI_SUCCESS) return Status::Ok();
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  return InternalError(fmt::format("collective: {} failed: {}", call, text));
}

Result<std::vector<int>> IntCounts(const std::vector<size_t>& sizes, std::string_view what) {
  std::vector<int> counts;
  counts.reserve(sizes.size());
  for (size_t size : sizes) {
    if (size > static_cast<size_t>(INT_MAX)) {
      return InvalidArgumentError(fmt::format(
          "collective: a {} block of {} bytes is over MPI's 2 GiB limit per rank; split the "
          "tensor",
          what, size));
    }
    counts.push_back(static_cast<int>(size));
  }
  return counts;
}

std::vector<int> Displacements(const std::vector<int>& counts) {
  std::vector<int> displacements(counts.size(), 0);
  for (size_t i = 1; i < counts.size(); ++i)
    displacements[i] = displacements[i - 1] + counts[i - 1];
  return displacements;
}

}  // namespace

struct MpiDataPlane::State {
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Datatype half = MPI_DATATYPE_NULL;
  MPI_Op half_ops[5] = {MPI_OP_NULL, MPI_OP_NULL, MPI_OP_NULL, MPI_OP_NULL, MPI_OP_NULL};
  bool finalize = false;  // this runtime initialised MPI, so it finalises it
};

bool RunningUnderMpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr; }

namespace {

// What a plane over `comm` (which the state then owns) needs: float16's type and operators.
std::unique_ptr<MpiDataPlane::State> StateOver(MPI_Comm comm, bool finalize) {
  auto state = std::make_unique<MpiDataPlane::State>();
  state->comm = comm;
  state->finalize = finalize;
  MPI_Type_contiguous(2, MPI_BYTE, &state->half);
  MPI_Type_commit(&state->half);
  MPI_Op_create(&ReduceHalves<ReduceOp::kAverage>, 1, &state->half_ops[0]);
  MPI_Op_create(&ReduceHalves<ReduceOp::kSum>, 1, &state->half_ops[1]);
  MPI_Op_create(&ReduceHalves<ReduceOp::kMin>, 1, &state->half_ops[2]);
  MPI_Op_create(&ReduceHalves<ReduceOp::kMax>, 1, &state->half_ops[3]);
  MPI_Op_create(&ReduceHalves<ReduceOp::kProduct>, 1, &state->half_ops[4]);
  return state;
}

}  // namespace

Result<std::unique_ptr<MpiDataPlane>> MpiDataPlane::Start() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  bool finalize = false;
  if (!initialized) {
    int provided = 0;
    KILN_RETURN_IF_ERROR(Check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided),
                               "MPI_Init_thread"));
    finalize = true;
  }
  MPI_Comm comm = MPI_COMM_NULL;
  KILN_RETURN_IF_ERROR(Check(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "MPI_Comm_dup"));
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  return std::unique_ptr<MpiDataPlane>(new MpiDataPlane(StateOver(comm, finalize), rank, size));
}

Result<std::unique_ptr<DataPlane>> MpiDataPlane::Subset(const std::vector<int>& members) {
  MPI_Group all = MPI_GROUP_NULL;
  MPI_Group some = MPI_GROUP_NULL;
  MPI_Comm_group(state_->comm, &all);
  MPI_Group_incl(all, static_cast<int>(members.size()), members.data(), &some);
  MPI_Comm comm = MPI_COMM_NULL;
  // Members run responses in one order, so no two creations over shared ranks overlap and
  // one tag serves them all.
  const int created = MPI_Comm_create_group(state_->comm, some, /*tag=*/0, &comm);
  MPI_Group_free(&some);
  MPI_Group_free(&all);
  KILN_RETURN_IF_ERROR(Check(created, "MPI_Comm_create_group"));
  if (comm == MPI_COMM_NULL) {
    return InvalidArgumentError(
        fmt::format("kiln.hvd: rank {} is not among the ranks of its process set", rank_));
  }
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  return std::unique_ptr<DataPlane>(new MpiDataPlane(StateOver(comm, false), rank, size));
}

MpiDataPlane::MpiDataPlane(std::unique_ptr<State> state, int rank, int size)
    : state_(std::move(state)), rank_(rank), size_(size) {}

MpiDataPlane::~MpiDataPlane() {
  for (MPI_Op& op : state_->half_ops) MPI_Op_free(&op);
  MPI_Type_free(&state_->half);
  MPI_Comm_free(&state_->comm);
  if (state_->finalize) MPI_Finalize();
}

Result<std::string> MpiDataPlane::BroadcastString(const std::string& text) {
  int length = static_cast<int>(text.size());
  KILN_RETURN_IF_ERROR(Check(MPI_Bcast(&length, 1, MPI_INT, 0, state_->comm), "MPI_Bcast"));
  std::string out = rank_ == 0 ? text : std::string(static_cast<size_t>(length), '\0');
  KILN_RETURN_IF_ERROR(
      Check(MPI_Bcast(out.data(), length, MPI_CHAR, 0, state_->comm), "MPI_Bcast"));
  return out;
}

Status MpiDataPlane::Allreduce(void* buffer, size_t count, DataType type, ReduceOp op) {
  const MPI_Datatype mpi_type = MpiType(type, state_->half);
  const MPI_Op mpi_op =
      type == DataType::kFloat16 ? state_->half_ops[static_cast<size_t>(op)] : MpiOp(op, type);
  auto* data = static_cast<char*>(buffer);
  // MPI counts are int: a tensor of more elements goes in pieces.
  while (count > 0) {
    const size_t piece = std::min(count, static_cast<size_t>(INT_MAX));
    KILN_RETURN_IF_ERROR(Check(
        MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(piece), mpi_type, mpi_op, state_->comm),
        "MPI_Allreduce"));
    data += piece * ElementSize(type);
    count -= piece;
  }
  return Status::Ok();
}

Status MpiDataPlane::Allgatherv(const void* send, void* recv, const std::vector<size_t>& bytes) {
  KILN_ASSIGN_OR_RETURN(const std::vector<int> counts, IntCounts(bytes, "allgather"));
  const std::vector<int> displacements = Displacements(counts);
  return Check(MPI_Allgatherv(send, counts[static_cast<size_t>(rank_)], MPI_BYTE, recv,
                              counts.data(), displacements.data(), MPI_BYTE, state_->comm),
               "MPI_Allgatherv");
}

Status MpiDataPlane::Broadcast(void* buffer, size_t bytes, int root) {
  KILN_ASSIGN_OR_RETURN(const std::vector<int> count, IntCounts({bytes}, "broadcast"));
  return Check(MPI_Bcast(buffer, count[0], MPI_BYTE, root, state_->comm), "MPI_Bcast");
}

Status MpiDataPlane::Alltoallv(const void* send, const std::vector<size_t>& send_bytes, void* recv,
                               const std::vector<size_t>& recv_bytes) {
  KILN_ASSIGN_OR_RETURN(const std::vector<int> send_counts, IntCounts(send_bytes, "alltoall"));
  KILN_ASSIGN_OR_RETURN(const std::vector<int> recv_counts, IntCounts(recv_bytes, "alltoall"));
  const std::vector<int> send_displacements = Displacements(send_counts);
  const std::vector<int> recv_displacements = Displacements(recv_counts);
  return Check(MPI_Alltoallv(send, send_counts.data(), send_displacements.data(), MPI_BYTE, recv,
                             recv_counts.data(), recv_displacements.data(), MPI_BYTE, state_->comm),
               "MPI_Alltoallv");
}

Status MpiDataPlane::ReduceScatter(void* buffer, const std::vector<size_t>& counts, void* out,
                                   DataType type, ReduceOp op) {
  KILN_ASSIGN_OR_RETURN(const std::vector<int> int_counts, IntCounts(counts, "reducescatter"));
  const MPI_Op mpi_op =
      type == DataType::kFloat16 ? state_->half_ops[static_cast<size_t>(op)] : MpiOp(op, type);
  return Check(MPI_Reduce_scatter(buffer, out, int_counts.data(), MpiType(type, state_->half),
                                  mpi_op, state_->comm),
               "MPI_Reduce_scatter");
}

}  // namespace kiln::collective
