#include "collective/shared_memory_data_plane.h"

#include <fmt/format.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "collective/shared_segment.h"
#include "collective/spin.h"

namespace kiln::collective {
namespace {

constexpr uint64_t kMagic = 0x6b696c6e2d73686dULL;  // "kiln-shm"
constexpr size_t kNameBytes = 64;
constexpr size_t kLine = 64;

struct Header {
  uint64_t magic;
  int32_t size;
};

// One cache line per rank, so a rank's counter shares its line with nothing another rank
// writes.
struct alignas(kLine) RankState {
  std::atomic<uint32_t> stage;     // the last step this rank finished
  std::atomic<uint32_t> sleepers;  // ranks asleep on `stage`'s futex
  int32_t pid;
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

size_t SlotsOffset(int size) {
  const size_t header = kLine * (1 + static_cast<size_t>(size));
  return (header + 4095) / 4096 * 4096;
}

size_t SegmentBytes(int size) {
  return SlotsOffset(size) + static_cast<size_t>(size) * 2 * SharedMemoryDataPlane::kSlotBytes;
}

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* timeout) {
  // Not FUTEX_PRIVATE: the word is shared between processes.
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

// Whether `pid` still runs (a zombie does not): the ranks share a process table, which
// Wrap checked.
bool Alive(int pid) {
  if (pid == getpid()) return true;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return !text.empty();
  const char state = text[paren + 2];
  return state != 'Z' && state != 'X';
}

bool Reached(uint32_t value, uint32_t stage) {
  return static_cast<int32_t>(value - stage) >= 0;  // counters wrap
}

}  // namespace

struct SharedMemoryDataPlane::Segment {
  std::unique_ptr<SharedSegment> shared;

  char* base() const { return shared->base(); }
  Header& header() const { return *reinterpret_cast<Header*>(base()); }
  RankState& state(int rank) const {
    return *reinterpret_cast<RankState*>(base() + kLine * (1 + static_cast<size_t>(rank)));
  }

  static Result<std::unique_ptr<Segment>> Create(int size) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<SharedSegment> shared,
                          SharedSegment::Create("hvd", SegmentBytes(size)));
    auto segment = std::make_unique<Segment>(Segment{std::move(shared)});
    Segment& s = *segment;
    for (int rank = 0; rank < size; ++rank) new (&s.state(rank)) RankState{{0}, {0}, 0};
    s.header().size = size;
    std::atomic_thread_fence(std::memory_order_release);
    s.header().magic = kMagic;
    return segment;
  }

  static Result<std::unique_ptr<Segment>> Open(const std::string& name, int size) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<SharedSegment> shared,
                          SharedSegment::Open(name, SegmentBytes(size)));
    auto segment = std::make_unique<Segment>(Segment{std::move(shared)});
    if (segment->header().magic != kMagic || segment->header().size != size) {
      return InternalError(fmt::format("/dev/shm{} is not a segment of {} ranks", name, size));
    }
    return segment;
  }
};

Result<std::unique_ptr<DataPlane>> SharedMemoryDataPlane::Wrap(std::unique_ptr<DataPlane> inner,
                                                               int rank, int size,
                                                               std::chrono::microseconds spin) {
  if (size <= 1) return inner;
  std::string why;
  std::unique_ptr<Segment> segment;
  char name[kNameBytes] = {};
  if (rank == 0) {
    Result<std::unique_ptr<Segment>> created = Segment::Create(size);
    if (created.ok()) {
      segment = std::move(*created);
      std::snprintf(name, sizeof(name), "%s", segment->shared->name().c_str());
    } else {
      why = created.status().message();
    }
  }
  KILN_RETURN_IF_ERROR(inner->Broadcast(name, sizeof(name), 0));
  if (rank != 0 && name[0] != '\0') {
    Result<std::unique_ptr<Segment>> opened = Segment::Open(name, size);
    if (opened.ok()) {
      segment = std::move(*opened);
    } else {
      why = opened.status().message();
    }
  }
  if (segment != nullptr) segment->state(rank).pid = getpid();
  int32_t mapped = segment != nullptr ? 1 : 0;
  KILN_RETURN_IF_ERROR(inner->Allreduce(&mapped, 1, DataType::kInt32, ReduceOp::kMin));
  // Every rank that could map it has: the name has done its work.
  if (rank == 0 && segment != nullptr) segment->shared->Unlink();
  int32_t usable = mapped;
  if (usable == 1) {
    for (int peer = 0; peer < size; ++peer) {
      const int pid = segment->state(peer).pid;
      if (kill(pid, 0) != 0 && errno == ESRCH) {
        why = fmt::format("rank {}'s process {} is not visible from here (another pid namespace)",
                          peer, pid);
        usable = 0;
      }
    }
  }
  KILN_RETURN_IF_ERROR(inner->Allreduce(&usable, 1, DataType::kInt32, ReduceOp::kMin));
  if (usable == 0) {
    if (!why.empty()) {
      std::fprintf(stderr, "kiln.hvd: rank %d: allreduce stays on the %.*s plane: %s\n", rank,
                   static_cast<int>(inner->Name().size()), inner->Name().data(), why.c_str());
    }
    return inner;
  }
  return std::unique_ptr<DataPlane>(
      new SharedMemoryDataPlane(std::move(inner), std::move(segment), rank, size, spin));
}

SharedMemoryDataPlane::SharedMemoryDataPlane(std::unique_ptr<DataPlane> inner,
                                             std::unique_ptr<Segment> segment, int rank, int size,
                                             std::chrono::microseconds spin)
    : ForwardingDataPlane(std::move(inner)),
      segment_(std::move(segment)),
      rank_(rank),
      size_(size),
      spin_(spin),
      name_(fmt::format("{}+shm", inner_->Name())),
      // With more ranks than cores, the rank being waited for may need this core.
      yield_every_(YieldEvery(size)) {}

SharedMemoryDataPlane::~SharedMemoryDataPlane() = default;

Result<std::unique_ptr<DataPlane>> SharedMemoryDataPlane::Subset(const std::vector<int>& members) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<DataPlane> inner, inner_->Subset(members));
  const int rank =
      static_cast<int>(std::lower_bound(members.begin(), members.end(), rank_) - members.begin());
  return Wrap(std::move(inner), rank, static_cast<int>(members.size()), spin_);
}

char* SharedMemoryDataPlane::Slot(int rank, uint32_t chunk) const {
  return segment_->base() + SlotsOffset(size_) +
         (static_cast<size_t>(rank) * 2 + (chunk & 1)) * kSlotBytes;
}

void SharedMemoryDataPlane::Post(uint32_t stage) {
  RankState& self = segment_->state(rank_);
  // Sequentially consistent with the sleeper's increment-then-check: either it sees the
  // new stage or this sees it asleep.
  self.stage.store(stage, std::memory_order_seq_cst);
  if (self.sleepers.load(std::memory_order_seq_cst) > 0) {
    Futex(&self.stage, FUTEX_WAKE, INT_MAX, nullptr);
  }
}

Status SharedMemoryDataPlane::WaitFor(int peer, uint32_t stage) {
  RankState& other = segment_->state(peer);
  if (SpinUntil(spin_, yield_every_,
                [&] { return Reached(other.stage.load(std::memory_order_acquire), stage); })) {
    return Status::Ok();
  }
  while (true) {
    other.sleepers.fetch_add(1, std::memory_order_seq_cst);
    const uint32_t seen = other.stage.load(std::memory_order_seq_cst);
    if (!Reached(seen, stage)) {
      const timespec timeout{0, 100'000'000};
      Futex(&other.stage, FUTEX_WAIT, seen, &timeout);
    }
    other.sleepers.fetch_sub(1, std::memory_order_seq_cst);
    if (Reached(other.stage.load(std::memory_order_acquire), stage)) return Status::Ok();
    if (!Alive(other.pid)) {
      return UnavailableError(fmt::format(
          "kiln.hvd: rank {} (pid {}) exited in the middle of an allreduce", peer, other.pid));
    }
  }
}

Status SharedMemoryDataPlane::WaitForAll(uint32_t stage) {
  for (int peer = 0; peer < size_; ++peer) {
    if (peer != rank_) KILN_RETURN_IF_ERROR(WaitFor(peer, stage));
  }
  return Status::Ok();
}

Status SharedMemoryDataPlane::Allreduce(void* buffer, size_t count, DataType type, ReduceOp op) {
  if (!broken_.ok()) return broken_;
  Status status = AllreduceChunks(static_cast<char*>(buffer), count, type, op);
  if (!status.ok()) broken_ = status;
  return status;
}

Status SharedMemoryDataPlane::AllreduceChunks(char* data, size_t count, DataType type,
                                              ReduceOp op) {
  const size_t element = ElementSize(type);
  const size_t per_chunk = kSlotBytes / element;
  for (size_t begin = 0; begin < count; begin += per_chunk) {
    const size_t n = std::min(per_chunk, count - begin);
    char* chunk = data + begin * element;
    // Part s of the chunk, in elements: [first(s), first(s + 1)).
    const auto first = [&](int s) {
      return n * static_cast<size_t>(s) / static_cast<size_t>(size_);
    };
    const auto bytes = [&](int s) { return (first(s + 1) - first(s)) * element; };
    const uint32_t stage = 3 * chunk_;
    char* mine = Slot(rank_, chunk_);
    // This parity's slots were last read in step 3 of the chunk before the previous one.
    if (chunk_ >= 2) KILN_RETURN_IF_ERROR(WaitForAll(stage - 3));
    for (int s = 0; s < size_; ++s) {
      if (s != rank_) std::memcpy(mine + first(s) * element, chunk + first(s) * element, bytes(s));
    }
    Post(stage + 1);
    KILN_RETURN_IF_ERROR(WaitForAll(stage + 1));
    char* own = chunk + first(rank_) * element;
    const size_t own_count = first(rank_ + 1) - first(rank_);
    // The last rank's part is reduced in the pass that also publishes the result.
    const int last = rank_ == size_ - 1 ? size_ - 2 : size_ - 1;
    for (int r = 0; r < size_; ++r) {
      const char* theirs = Slot(r, chunk_) + first(rank_) * element;
      if (r == last) {
        ReduceIntoAndCopy(own, mine + first(rank_) * element, theirs, own_count, type, op);
      } else if (r != rank_) {
        ReduceInto(own, theirs, own_count, type, op);
      }
    }
    Post(stage + 2);
    KILN_RETURN_IF_ERROR(WaitForAll(stage + 2));
    for (int s = 0; s < size_; ++s) {
      if (s != rank_) {
        std::memcpy(chunk + first(s) * element, Slot(s, chunk_) + first(s) * element, bytes(s));
      }
    }
    Post(stage + 3);
    ++chunk_;
  }
  return Status::Ok();
}

}  // namespace kiln::collective
