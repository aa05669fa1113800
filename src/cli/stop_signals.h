#pragma once

// How the long-running commands (kiln server, kiln serve) stop: SIGTERM, SIGINT or SIGHUP
// is taken by one thread, which asks the server to stop; every other thread has them
// blocked, so none of them (an OpenMP pool, httplib's workers) is killed by the default
// action instead.

#include <csignal>
#include <functional>

#include "common/status.h"

namespace kiln::cli {

// Blocks the stop signals in the calling thread, and so in every thread it starts later:
// call it before anything starts threads.
class StopSignals {
 public:
  StopSignals();

  // Runs `serve` to its end; the first stop signal calls `stop(signal)`, which must make
  // `serve` return. Returns what `serve` returned.
  Status ServeUntilStopped(const std::function<Status()>& serve,
                           const std::function<void(int signal)>& stop) const;

 private:
  sigset_t signals_;
};

}  // namespace kiln::cli
