#pragma once

// LauncherLock: an exclusive lock on runs/<id>/launcher.lock (an open file description
// lock, fcntl F_OFD_SETLK), held for as long as a launcher owns the run. The kernel drops it
// when the last holder's descriptor closes, so
// a launcher that dies any way at all (kill -9, a crash, a reboot) frees it, and
// IsLauncherAlive() then answers false: that is how a dead launcher is detected.
//
// Handing over without a gap:
//   1. submit creates and locks the file before the run appears in the store;
//   2. the launcher process inherits the locked descriptor (same open file, same lock);
//   3. submit closes its copy; the launcher's keeps the lock.
// On a cluster the hand-over goes through the scheduler instead: submit holds the lock until
// the job's id is recorded (slurm.json), and the launcher, started by then or not, waits for
// it (Acquire with a wait). So no reader ever sees a run with neither a lock holder nor a
// job, which it would take for a dead launcher.
// IsLauncherAlive() tests the lock (F_OFD_GETLK) and never takes it, so a probe cannot make
// a submit or a launcher fail to take it. The lock is local to one machine: the local
// compute target uses it; cluster targets ask their scheduler instead.

#include <chrono>
#include <filesystem>
#include <optional>

#include "common/result.h"
#include "common/unique_fd.h"

namespace kiln::launch {

class LauncherLock {
 public:
  // Creates the file and takes the lock. FailedPrecondition when another process holds it
  // for longer than `wait` (by default, not at all: it is asked once).
  static Result<LauncherLock> Acquire(
      const std::filesystem::path& path,
      std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  // Adopts an inherited descriptor that must already hold the lock on `path`.
  static Result<LauncherLock> Adopt(int fd, const std::filesystem::path& path);

  int fd() const { return fd_.get(); }
  // Writes this process's pid into the file, so readers can name the owner.
  Status RecordOwner();
  // Makes the descriptor close on exec (ranks must not hold it) or not (to hand it over).
  Status SetInheritable(bool inheritable);
  void Release() { fd_.reset(); }

 private:
  explicit LauncherLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// True when some process holds the lock; false when it is free or the file is gone.
Result<bool> IsLauncherAlive(const std::filesystem::path& path);

// The pid the last owner recorded; nullopt when none did.
std::optional<int> LauncherLockOwner(const std::filesystem::path& path);

}  // namespace kiln::launch
