#pragma once

// SlotQueue: the local target's capacity, shared by every launcher of one Kiln home.
//
// The machine has slots of two kinds: cores, and GPUs (a use_gpu run takes GPUs). A run
// needs ranks x slots_per_rank slots of its kind; it waits Queued until it is first in line
// for that kind and enough are free, in the order runs were submitted (no run overtakes an
// earlier one, however small, unless that one is held back by its group: see
// SlotRequest::group). The queue lives in files under <home>/local-queue/
// (docs/run-directory.md):
//
//   settings.json   the capacity `kiln compute set local` chose; absent: the machine's
//   lock            taken around every change of the two folders below
//   waiting/<came>-<run>   a run in line; <came> (its submit time, zero-padded) orders it
//   holding/<run>          a run holding slots
//
// Each waiting or holding file carries an open file description lock (F_OFD_SETLK) held by
// its launcher, so a launcher that dies any way at all leaves its place or its slots: a file
// whose lock is free is stale, and the next change under `lock` removes it. Readers (`kiln
// show`) test the locks without taking them.
//
// Thread-safety: a SlotQueue is stateless beyond its folder; a SlotTicket belongs to one
// thread.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "common/unique_fd.h"

namespace kiln::launch {

enum class SlotKind { kCores, kGpus };

std::string_view SlotKindName(SlotKind kind);  // "cores", "gpus": the JSON forms
std::optional<SlotKind> ParseSlotKind(std::string_view name);
// For people: "1 core", "3 GPUs".
std::string CountOf(int count, SlotKind kind);

inline constexpr int kSlotSettingsVersion = 1;
// The most slots of one kind a setting may give.
inline constexpr int kMaxSlots = 100000;

// The capacity set with `kiln compute set local`; nullopt means the machine's own count.
struct SlotSettings {
  std::optional<int> cores;
  std::optional<int> gpus;
};

// What a run asked of the queue, written into its plan.
struct SlotRequest {
  std::filesystem::path queue_dir;
  SlotKind kind = SlotKind::kCores;
  int need = 1;
  // A sweep's trials share a group: at most `group_limit` of them hold slots at once (its
  // max_concurrent_trials), so a trial beyond them waits in line, and can start warm. A
  // waiter held back only by its group does not hold up the runs behind it.
  std::string group;
  int group_limit = 0;
};

// The queue as one kind's runs see it, for people and for admission.
struct QueueView {
  int capacity = 0;
  int used = 0;
  struct Entry {
    std::string run_id;
    int need = 0;
    std::string group;
  };
  std::vector<Entry> holding;  // by run id
  std::vector<Entry> waiting;  // in line: the first comes next
};

class SlotTicket;

class SlotQueue {
 public:
  explicit SlotQueue(std::filesystem::path dir) : dir_(std::move(dir)) {}

  const std::filesystem::path& dir() const { return dir_; }

  // The settings file; {} when there is none. DataLoss for one this version cannot read.
  Result<SlotSettings> ReadSettings() const;
  // Replaces the settings file atomically. InvalidArgument for a count below 1.
  Status WriteSettings(const SlotSettings& settings) const;
  // The slots of `kind`: its setting, else this machine's cores or NVIDIA devices.
  Result<int> Capacity(SlotKind kind) const;

  // Puts a run in line. `came` orders it (its submit time); the run id breaks ties.
  Result<SlotTicket> Join(const std::string& run_id, Timestamp came, const SlotRequest& request);
  // Takes over the place a submitter joined for the run and handed over as the inherited
  // descriptor `fd` (like launcher.lock, launcher_lock.h). NotFound when the run has no
  // place in line.
  Result<SlotTicket> Adopt(const std::string& run_id, const SlotRequest& request, int fd);

  // The live holders and waiters of `kind`, without changing anything.
  Result<QueueView> View(SlotKind kind) const;

  // For a waiting run: "waiting for 2 cores; 1 of 2 free; 3rd in line", or for a trial held
  // back by its sweep "waiting for its sweep: 2 of its trials hold slots, at most 2 at
  // once". Empty when the run is not in line.
  Result<std::string> DescribeWait(std::string_view run_id) const;

 private:
  friend class SlotTicket;
  std::filesystem::path dir_;
};

// A run's place in line, then its slots. Move-only; destroying it leaves the queue.
class SlotTicket {
 public:
  SlotTicket(SlotTicket&&) = default;
  SlotTicket& operator=(SlotTicket&&) = delete;
  ~SlotTicket() { Leave(); }

  // Takes the slots when this run is first in line for its kind (among the runs not held
  // back by their group), its group is below its limit, and the slots are free: true once
  // it holds them. FailedPrecondition when the run needs more than the kind's whole
  // capacity (it was lowered after submit), so waiting would never end.
  Result<bool> TryTake();
  bool holding() const { return holding_; }
  // Gives the place or the slots back at once (the next in line may start).
  void Leave();
  // The descriptor holding the place (close-on-exec: name it in SpawnOptions::keep_fds to
  // hand it to a launcher); -1 once the ticket left.
  int fd() const { return fd_.get(); }
  // Forgets the place without leaving it: a launcher that inherited the descriptor holds
  // it now.
  void HandedOver() { fd_.reset(); }

 private:
  friend class SlotQueue;
  SlotTicket(SlotQueue queue, std::string run_id, std::string waiting_name, SlotRequest request,
             UniqueFd fd)
      : queue_(std::move(queue)),
        run_id_(std::move(run_id)),
        waiting_name_(std::move(waiting_name)),
        request_(std::move(request)),
        fd_(std::move(fd)) {}

  SlotQueue queue_;
  std::string run_id_;
  std::string waiting_name_;
  SlotRequest request_;
  UniqueFd fd_;  // holds the lock on the waiting file, then on the holding file
  bool holding_ = false;
};

// Wakes a waiting launcher when the queue changes (a run leaves its place or its slots, the
// settings are rewritten), through inotify on the queue's folders. Without inotify it only
// sleeps; a waiter looks again after each Wait anyway.
class QueueWatch {
 public:
  explicit QueueWatch(const std::filesystem::path& queue_dir);
  // Returns after a change, when `extra_fd` (-1: none) is readable, or after `timeout`.
  void Wait(int extra_fd, std::chrono::milliseconds timeout) const;

 private:
  UniqueFd inotify_;
};

}  // namespace kiln::launch
