#include "cli/stop_signals.h"

#include <pthread.h>

#include <thread>

namespace kiln::cli {

StopSignals::StopSignals() {
  sigemptyset(&signals_);
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals_, signal);
  ::pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

Status StopSignals::ServeUntilStopped(const std::function<Status()>& serve,
                                      const std::function<void(int)>& stop) const {
  std::thread stopper([this, &stop] {
    int signal = 0;
    ::sigwait(&signals_, &signal);
    stop(signal);
  });
  const Status served = serve();
  // Serving ended by itself (an error): wake the stopper with a signal of its own.
  if (!served.ok()) ::pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  return served;
}

}  // namespace kiln::cli
