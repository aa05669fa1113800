#pragma once

// LauncherSignals: the signals a launcher takes as events, not as its death. SIGCHLD,
// SIGTERM, SIGINT and SIGHUP are blocked and read from a signalfd, so the supervision loop
// sees them in its poll. A stop signal (SIGTERM, SIGINT, SIGHUP) means that whoever sent it
// wants the run canceled and the launcher gone; SIGCHLD only wakes the loop.
//
// Not thread-safe: the launcher's one thread owns it.

#include <chrono>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace kiln::launch {

class LauncherSignals {
 public:
  // Blocks the four signals in the calling thread (threads it starts later inherit the
  // mask) and opens the signalfd that reads them.
  static Result<LauncherSignals> Block();

  // Readable when a signal is pending: for the caller's poll.
  int fd() const { return fd_.get(); }
  // Reads what is pending, without blocking. Returns the stop signals read since the last
  // call, in order, including those a Wait() read.
  std::vector<int> ReadStops();
  // Waits up to `timeout` for a signal and reads it (ReadStops() returns it later).
  void Wait(std::chrono::milliseconds timeout);
  // The first stop signal ever read; 0 while none came.
  int first_stop() const { return first_stop_; }

 private:
  explicit LauncherSignals(UniqueFd fd) : fd_(std::move(fd)) {}
  void Drain();

  UniqueFd fd_;
  std::vector<int> unreported_;  // stop signals read but not yet returned by ReadStops()
  int first_stop_ = 0;
};

}  // namespace kiln::launch
