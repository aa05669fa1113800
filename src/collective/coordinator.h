#pragma once

// The control protocol of the collective runtime. Every process runs one background
// thread (runtime.h); rank 0's also plays coordinator. Ranks talk to the coordinator over
// the control star (mesh.h); nothing is lockstep, so a rank with no work sends nothing and
// sleeps in poll().
//
//   1. A caller enqueues a tensor under a name unique among its rank's pending ones, and
//      the background thread is woken.
//   2. The thread drains its queue into one RequestList: a request whose name and
//      signature are in the response cache becomes that slot's bit; the others travel
//      whole. Rank 0 adds its list to the coordinator directly; other ranks send it.
//   3. The coordinator files whole requests in its message table by name, and each
//      rank's bits in that rank's pending bitset. A rank that joined counts as having
//      asked for every allreduce.
//   4. A tensor is ready when every rank of its process set (set 0: every rank that has
//      not joined) asked for it: a table entry with a request from each of them, or a
//      slot whose bit each of them set. The
//      coordinator checks that the requests agree (op, dtype, shape, reduce op, root,
//      scales); a disagreement becomes an error response that every rank raises with the
//      same text. A name sent whole while other ranks sent its bit is settled in the
//      table, so a changed shape is caught as a mismatch.
//   5. Ready tensors are released at once when nothing else is half-asked-for (a lone
//      tensor: the latency path). While some tensors wait on some ranks (a backward pass
//      in progress) ready ones are held so more of them fuse: up to HOROVOD_CYCLE_TIME, and
//      only while requests keep arriving (a fifth of the cycle time without one releases
//      them: a burst is over, and waiting longer would only delay).
//      Allreduces of one dtype, reduce op and scaling are fused into one response of at
//      most HOROVOD_FUSION_THRESHOLD bytes. A response for a tensor first negotiated
//      gives it a cache slot.
//   6. The coordinator sends the ResponseList to every rank and runs it itself; every
//      rank runs the responses in the order received on its data plane
//      (data_plane.h), so collective calls match across ranks. A rank skips the
//      responses of process sets it is not in; the others run them on their set's plane.
//   7. Requests waiting longer than HOROVOD_STALL_CHECK_TIME_SECONDS are reported by the
//      coordinator, naming the tensors and the ranks that did not submit them.
//   8. Shutdown: each rank's last list says so; when all have, the coordinator answers
//      with shutdown. A rank whose connection drops ends the job's runtime on every rank
//      with an error naming it.

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "collective/message.h"
#include "collective/response_cache.h"

namespace kiln::collective {

using Clock = std::chrono::steady_clock;

struct CoordinatorOptions {
  size_t fusion_threshold = size_t{128} << 20;  // HOROVOD_FUSION_THRESHOLD
  std::chrono::microseconds cycle_time{1000};   // HOROVOD_CYCLE_TIME (ms there)
  std::chrono::seconds stall_time{60};          // HOROVOD_STALL_CHECK_TIME_SECONDS
  bool stall_check = true;                      // HOROVOD_STALL_CHECK_DISABLE
  size_t cache_capacity = 1024;                 // HOROVOD_CACHE_CAPACITY
};

class Coordinator {
 public:
  Coordinator(int size, CoordinatorOptions options);

  // Process sets (message.h): set 0 is every rank and always there. `ranks` sorted, unique,
  // in range. Every rank registers a set before any of its ranks asks for an op in it, so a
  // request for a set the coordinator does not know is an error, answered at once.
  void AddProcessSet(int32_t id, std::vector<int> ranks);
  // Tensors still waiting in the set fail on the ranks that asked for them.
  void RemoveProcessSet(int32_t id);

  // Step 3.
  void Add(int rank, const RequestList& list, Clock::time_point now);
  // Steps 4 and 5: what runs now. Empty while ready tensors are held or nothing is ready.
  std::vector<Response> TakeReady(Clock::time_point now);
  // When held tensors are due (step 5), if any are held.
  std::optional<Clock::time_point> HeldUntil() const;
  // Step 7: one line per stalled tensor, each reported once per stall period.
  std::vector<std::string> StallWarnings(Clock::time_point now);
  // Step 8.
  bool AllShutDown() const { return static_cast<int>(shut_down_.size()) == size_; }

  const ResponseCache& cache() const { return cache_; }

 private:
  // Names are unique within a process set.
  using TensorKey = std::pair<int32_t, std::string>;
  struct Pending {
    std::map<int, Request> by_rank;
    Clock::time_point first_seen;
    Clock::time_point last_warned;
  };

  void MoveBitsToTable();
  void CollectReady();
  // Whether every rank of `set` that has to (in set 0, those that have not joined) asked.
  bool AskedByAll(int32_t set, const std::function<bool(int)>& asked) const;
  Response Decide(const TensorKey& key, const Pending& pending);
  bool SomethingHalfAsked() const;
  std::vector<Response> Fuse(std::vector<Response> ready) const;

  int size_;
  CoordinatorOptions options_;
  ResponseCache cache_;
  std::map<int32_t, std::vector<int>> sets_;  // id: its ranks, sorted
  std::map<TensorKey, Pending> table_;
  std::vector<std::vector<uint64_t>> bits_;         // per rank: pending cached slots
  std::map<int32_t, Clock::time_point> bit_since_;  // slot: first set on some rank
  std::map<int32_t, Clock::time_point> bit_warned_;
  std::set<int> joined_;
  int last_joined_ = -1;
  std::set<int> shut_down_;
  std::vector<Response> ready_;
  std::optional<Clock::time_point> held_since_;
  Clock::time_point last_arrival_{};
};

// Bytes of one allreduce response entry (for fusion).
size_t ResponseBytes(const Response& response);

}  // namespace kiln::collective
