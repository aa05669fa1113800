#pragma once

// RunEndWatch: wakes the sweep driver the moment one of its running trials' launchers
// exits, instead of at its next poll, so a freed slot is refilled (and the next trial
// started) within milliseconds.
//
// A launcher holds its run's launcher.lock open for as long as it lives (launch/
// launcher_lock.h); the kernel closes that descriptor when the launcher exits, however it
// exits, and inotify reports the close (IN_CLOSE_WRITE). The driver re-reads the store
// after a wake-up: the launcher stores the run's end before it exits. Runs whose lock this
// machine cannot see (another host's) are simply waited for by polling.
//
// Not thread-safe; the driver's thread owns it.

#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "common/unique_fd.h"

namespace kiln::sweep {

class RunEndWatch {
 public:
  RunEndWatch();

  // Watches exactly these lock files from now on (each a running trial's launcher.lock).
  void Watch(const std::set<std::filesystem::path>& locks);
  // Returns when a watched launcher exited or `timeout` passed, whichever comes first.
  void Wait(std::chrono::milliseconds timeout);

 private:
  UniqueFd inotify_;  // invalid when inotify is unavailable: Wait() only sleeps
  std::map<std::filesystem::path, int> watches_;  // lock file -> watch descriptor
};

}  // namespace kiln::sweep
