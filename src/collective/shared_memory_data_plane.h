#pragma once

// Allreduce through shared memory for ranks on one machine. The ranks map one segment (in
// /dev/shm, unlinked as soon as all have it, so nothing outlives the job) holding two slots
// per rank, and take the buffer a chunk at a time:
//
//   1. each rank copies the parts of its chunk that other ranks reduce into its slot;
//   2. rank s reduces part s: its own elements with every other rank's, in rank order, into
//      its buffer and its slot (so the result is computed once and is the same everywhere);
//   3. each rank copies the other ranks' reduced parts from their slots.
//
// Each step ends with a counter per rank in the segment; a rank waits for the others'
// counters, polling for the spin time and then sleeping on a futex, so a rank that is
// behind gets the core. Slots alternate between chunks, so step 1 of one chunk overlaps
// step 3 of the previous one. Chunks are sized to stay in cache; the bytes cross between
// cores once each way, against Open MPI's copy through the kernel. A rank that exits while
// others wait for it fails their allreduce within a fraction of a second.
//
// Every other op, and allreduce when the ranks are not all on this machine, goes to the
// data plane it wraps.

#include <chrono>
#include <memory>

#include "collective/forwarding_data_plane.h"
#include "common/result.h"

namespace kiln::collective {

class SharedMemoryDataPlane : public ForwardingDataPlane {
 public:
  // Collective over `inner`: rank 0 creates the segment and names it to the others, which
  // map it. Returns `inner` itself when any rank could not (ranks on other machines, no
  // /dev/shm), after each such rank has said why on stderr.
  static Result<std::unique_ptr<DataPlane>> Wrap(std::unique_ptr<DataPlane> inner, int rank,
                                                 int size, std::chrono::microseconds spin);
  ~SharedMemoryDataPlane() override;

  std::string_view Name() const override { return name_; }  // "mpi+shm", "tcp+shm"
  Status Allreduce(void* buffer, size_t count, DataType type, ReduceOp op) override;
  // The inner plane's subset, with a segment of its own.
  Result<std::unique_ptr<DataPlane>> Subset(const std::vector<int>& members) override;

  // Bytes of one slot: the chunk the buffer is taken in.
  static constexpr size_t kSlotBytes = 256 << 10;

 private:
  struct Segment;
  SharedMemoryDataPlane(std::unique_ptr<DataPlane> inner, std::unique_ptr<Segment> segment,
                        int rank, int size, std::chrono::microseconds spin);

  // Publishes that this rank finished step `stage` (counts up by 3 per chunk).
  void Post(uint32_t stage);
  // Until every other rank has posted `stage`.
  Status WaitForAll(uint32_t stage);
  Status WaitFor(int peer, uint32_t stage);
  char* Slot(int rank, uint32_t chunk) const;
  Status AllreduceChunks(char* data, size_t count, DataType type, ReduceOp op);

  std::unique_ptr<Segment> segment_;
  int rank_;
  int size_;
  std::chrono::microseconds spin_;
  std::string name_;
  unsigned yield_every_;  // polling rounds (64 polls each) between sched_yield calls
  uint32_t chunk_ = 0;    // chunks done, the same on every rank
  // Once a wait failed the ranks' counters disagree: every later allreduce fails the same way.
  Status broken_;
};

}  // namespace kiln::collective
