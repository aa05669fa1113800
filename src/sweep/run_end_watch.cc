#include "sweep/run_end_watch.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <thread>

namespace kiln::sweep {

RunEndWatch::RunEndWatch() : inotify_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {}

void RunEndWatch::Watch(const std::set<std::filesystem::path>& locks) {
  if (!inotify_) return;
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (locks.contains(it->first)) {
      ++it;
      continue;
    }
    ::inotify_rm_watch(inotify_.get(), it->second);
    it = watches_.erase(it);
  }
  for (const std::filesystem::path& lock : locks) {
    if (watches_.contains(lock)) continue;
    const int watch = ::inotify_add_watch(inotify_.get(), lock.c_str(), IN_CLOSE_WRITE);
    if (watch >= 0) watches_[lock] = watch;  // a file not there yet is polled for
  }
}

void RunEndWatch::Wait(std::chrono::milliseconds timeout) {
  if (!inotify_ || watches_.empty()) {
    std::this_thread::sleep_for(timeout);
    return;
  }
  pollfd ready{inotify_.get(), POLLIN, 0};
  if (::poll(&ready, 1, static_cast<int>(timeout.count())) <= 0) return;
  // Drain the events: which launcher it was does not matter, the store says.
  std::array<char, 4096> events;
  while (::read(inotify_.get(), events.data(), events.size()) > 0) {
  }
}

}  // namespace kiln::sweep
