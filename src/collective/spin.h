#pragma once

// Waiting by polling, the way the runtime's waits on other ranks on this machine do it: for
// a short while, a core polls memory (a wake-up from sleep costs tens of microseconds on a
// virtual machine), yielding now and then so that a rank sharing the core can run.

#include <sched.h>

#include <chrono>
#include <thread>

namespace kiln::collective {

// Polling rounds (64 polls each) between sched_yield calls for `ranks` ranks on this
// machine: with more ranks than cores, the one being waited for may need this core.
inline unsigned YieldEvery(int ranks) {
  return static_cast<unsigned>(ranks) > std::thread::hardware_concurrency() ? 1 : 8;
}

// Polls `ready` for up to `spin`; true as soon as it is.
template <typename Ready>
bool SpinUntil(std::chrono::microseconds spin, unsigned yield_every, Ready ready) {
  if (ready()) return true;
  const auto until = std::chrono::steady_clock::now() + spin;
  for (unsigned round = 1; std::chrono::steady_clock::now() < until; ++round) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      __builtin_ia32_pause();
    }
    if (round % yield_every == 0) sched_yield();
  }
  return ready();
}

}  // namespace kiln::collective
