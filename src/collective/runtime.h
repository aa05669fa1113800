#pragma once

// The collective runtime of one process: the background thread of coordinator.h's protocol,
// the queue callers enqueue tensors on, and the execution of responses on the data plane.
// kiln.hvd (the Python binding) and the C++ API are thin layers over it.

#include <poll.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "collective/control_channel.h"
#include "collective/coordinator.h"
#include "collective/data_plane.h"
#include "collective/mesh.h"
#include "collective/op_handle.h"
#include "collective/response_cache.h"
#include "collective/timeline.h"
#include "common/unique_fd.h"

namespace kiln::collective {

struct Topology {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  int cross_rank = 0;  // the node's index
  int cross_size = 1;  // nodes
};

struct RuntimeOptions {
  CoordinatorOptions coordinator;
  // How long a caller blocked in Wait() polls for its answer before it sleeps in the
  // kernel (KILN_HVD_SPIN_MICROSECONDS). A wake-up from sleep costs tens of microseconds
  // on a virtual machine, more than a small allreduce; the caller's own thread has nothing
  // else to do meanwhile, and the background thread never spins.
  std::chrono::microseconds spin{100};
  // Control messages through shared memory when every rank is on this machine
  // (control_channel.h), and allreduce too (KILN_HVD_SHARED_MEMORY).
  bool shared_memory = true;
  std::string timeline;  // HOROVOD_TIMELINE: a file to write from init on; empty for none
};

class Runtime {
 public:
  // Under mpirun: Open MPI moves the data, and the control star is set up through it.
  // Otherwise RANK/WORLD_SIZE and MASTER_ADDR/MASTER_PORT (as Kiln's launcher and
  // torch.distributed set them; HOROVOD_* variables win) give the TCP rendezvous.
  static Result<std::unique_ptr<Runtime>> StartFromEnvironment();
  // From parts: the tests run ranks as threads over LocalMeshes. Collective (the control
  // channel is agreed on here): every rank calls it at once.
  static Result<std::unique_ptr<Runtime>> Start(const Topology& topology, Mesh control,
                                                std::unique_ptr<DataPlane> data,
                                                RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const Topology& topology() const { return topology_; }
  std::string_view data_plane() const { return data_->Name(); }

  // Errors found here (a duplicate name, bad splits, a runtime that stopped) complete the
  // handle at once; the others come when every rank has asked. `wake` false leaves the
  // background thread asleep: for a caller that calls Wait() next, which does the work.
  std::shared_ptr<OpHandle> Enqueue(TensorEntry entry, bool wake = true);

  // Waits for `handle` doing the background thread's work on the calling thread while the
  // background thread is idle (the fast path: no thread hand-off on the way there or back).
  Status Wait(const std::shared_ptr<OpHandle>& handle);

  // Collective: returns when every rank has shut down; pending ops fail.
  void Shutdown();

  // Process sets (message.h). Every rank adds the same sets with the same ids, in the same
  // order, and every rank has added a set before any rank asks for an op in it (rank 0's
  // coordinator refuses a set it does not know): kiln.hvd follows each add with a global
  // collective that orders it. `ranks` are sorted here. Errors: an id in use, ranks out
  // of range or repeated, none. Ops of a set run on a data plane of its ranks (made at its
  // first op) and, like every op, in the order the coordinator releases them.
  Status AddProcessSet(int32_t id, std::vector<int> ranks);
  // Ops of the set still waiting in the coordinator fail; later ones are refused.
  Status RemoveProcessSet(int32_t id);
  // The ranks of set `id`, or nothing when no such set is added.
  std::optional<std::vector<int>> ProcessSetRanks(int32_t id);

  // Rank 0 alone writes the timeline, as in Horovod: every rank is given the same
  // HOROVOD_TIMELINE, and one file opened by many processes would be garbled.
  Status StartTimeline(const std::string& path) {
    return topology_.rank == 0 ? timeline_.Start(path, topology_.rank) : Status::Ok();
  }
  void StopTimeline() { timeline_.Stop(); }

 private:
  Runtime(const Topology& topology, ControlChannel control, std::unique_ptr<DataPlane> data,
          RuntimeOptions options, UniqueFd wake);

  // A process set as the thread that runs responses sees it.
  struct SetPlane {
    std::vector<int> ranks;
    int index = -1;  // this rank's among them; -1 when it is not one
    DataPlane* plane = nullptr;
    std::unique_ptr<DataPlane> owned;  // a subset of data_, made at the set's first op
  };
  // One change to the process sets, applied by Step() before the requests taken with it.
  struct SetChange {
    int32_t id = 0;
    std::optional<std::vector<int>> ranks;  // absent: removed
  };

  void Loop();
  void ApplySetChanges(std::vector<SetChange> changes);
  // Set `id`'s plane, made if this is its first op. Null `plane` (index -1) when this rank
  // is not a member or does not have the set.
  Result<SetPlane*> PlaneFor(int32_t id);
  // One turn of the protocol, run by whoever holds drive_mutex_: optionally sleep until
  // something happens, take the queue, talk to the coordinator, run what is ready.
  void Step(bool sleep_first, bool spin = false);
  // `driving`: the caller holds drive_mutex_ (control_channel.h's Sleep).
  Status Sleep(bool driving, bool spin = false);
  // The background thread while a caller drives: until new work or about a cycle time.
  Status SleepOnWake();
  RequestList TakeQueue();
  // Rank 0: reads every message the other ranks have sent; false when one was lost.
  bool ReadPeers(Clock::time_point now);
  void Run(const ResponseList& list);
  Status Run(Response& response);
  Status RunAllreduce(const Response& response, const SetPlane& set,
                      std::vector<TensorEntry*>& entries);
  Status RunOne(const Response& response, const SetPlane& set, TensorEntry& entry);
  void Finish(TensorEntry* entry, Status status);
  // Ends the loop: every pending and queued op fails with `why`; rank 0 also tells the
  // other ranks, which fail theirs with the same text.
  void Abort(const Status& why, bool tell_peers = true);
  void Wake();

  const Topology topology_;
  ControlChannel control_;
  std::unique_ptr<DataPlane> data_;
  RuntimeOptions options_;
  UniqueFd wake_;  // eventfd: work was enqueued or shutdown asked for
  // Set after each write to wake_: a spinning thread sees it without a system call.
  std::atomic<bool> woken_ = false;
  Timeline timeline_;

  std::mutex mutex_;  // guards the fields up to thread_
  std::deque<TensorEntry> queue_;
  std::map<int32_t, std::vector<int>> sets_;  // what Enqueue validates against
  std::vector<SetChange> set_changes_;        // not yet applied by Step()
  bool shutdown_asked_ = false;
  std::optional<Status> stopped_;  // set once the loop ended; later ops fail with it
  std::thread thread_;

  // Held by the thread doing Step(): the background thread, or a caller in Wait(). The
  // fields below are touched only under it.
  std::mutex drive_mutex_;
  std::map<std::pair<int32_t, std::string>, TensorEntry> pending_;  // by set and name
  std::map<int32_t, SetPlane> set_planes_;
  std::optional<TensorEntry> join_;
  ResponseCache cache_;
  std::optional<Coordinator> coordinator_;  // rank 0
  std::vector<char> fusion_buffer_;
  bool sent_shutdown_ = false;
  std::atomic<bool> done_ = false;
  std::atomic<int> waiters_ = 0;  // callers in Wait()
  // Rank 0: coordinator_->HeldUntil() as of the last step, in Clock ticks; -1 for none.
  // What a thread sleeping without the drive lock reads.
  std::atomic<int64_t> held_until_ = -1;
  unsigned yield_every_;  // Sleep()'s polling rounds between sched_yield calls
};

}  // namespace kiln::collective
