#pragma once

// SweepHost: the sweeps a Kiln server drives, each on a thread of its own (docs/sweeps.md).
// On the embedded store a detached `kiln sweep drive` process drives each sweep instead
// (sweep_control.h); both hold the sweep's driver.lock while they drive it, so a sweep
// never has two drivers.
//
// A server that stops leaves its sweeps Running, and ResumeAll() at its next start picks
// them up where they were: their state is in the store (sweep_driver.h). After that the
// host looks again every kAdoptInterval for a sweep of this machine with no driver (one
// whose driver lock its previous server still held at the start, or whose driver stopped
// because the store was out of reach) and drives it.
//
// Thread-safe.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "client/workspace.h"
#include "common/status.h"
#include "launch/launcher_lock.h"
#include "store/records.h"

namespace kiln::sweep {

class SweepHost {
 public:
  SweepHost(client::Workspace& workspace, std::chrono::milliseconds poll)
      : workspace_(workspace), poll_(poll) {}
  // Stops every driver (its sweep stays as it is, to be resumed) and waits for them.
  ~SweepHost();

  // Drives `sweep` from now on; Ok when this host drives it already, or when the sweep has
  // ended meanwhile. FailedPrecondition when another process holds its driver lock.
  Status Start(const store::Run& sweep);
  // Whether a driver of this host drives the sweep now.
  bool Driving(const std::string& id);
  // Starts a driver for each sweep of this host that has not ended, then keeps adopting
  // such sweeps every kAdoptInterval until the host is destroyed.
  Status ResumeAll();

  static constexpr std::chrono::seconds kAdoptInterval{5};

 private:
  struct Driven {
    std::atomic<bool> stop{false};
    std::atomic<bool> done{false};
    std::thread thread;
  };

  // One pass of ResumeAll(); `quiet` leaves out sweeps another process drives.
  Status Adopt(bool quiet);
  void AdoptEvery();  // the adopter thread's loop
  void Drive(const std::string& id, launch::LauncherLock lock, Driven& driven);
  void DriveSweep(const std::string& id, Driven& driven);
  // Joins and forgets the drivers whose sweeps ended. Called with mu_ held.
  void ReapLocked();

  client::Workspace& workspace_;
  const std::chrono::milliseconds poll_;

  // Guarded by mu_.
  std::mutex mu_;
  std::condition_variable stopping_changed_;
  std::map<std::string, std::unique_ptr<Driven>> driven_;
  bool stopping_ = false;  // set by the destructor: no driver starts any more

  std::thread adopter_;  // started by ResumeAll(); owned and joined by the destructor
};

}  // namespace kiln::sweep
