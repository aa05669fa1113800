#include "launch/launcher_signals.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

namespace kiln::launch {

Result<LauncherSignals> LauncherSignals::Block() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, signal);
  if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) return ErrnoError("sigprocmask", errno);
  UniqueFd fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) return ErrnoError("signalfd", errno);
  return LauncherSignals(std::move(fd));
}

void LauncherSignals::Drain() {
  signalfd_siginfo info{};
  while (::read(fd_.get(), &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    const int signal = static_cast<int>(info.ssi_signo);
    if (signal == SIGCHLD) continue;  // the launcher reaps after every wait anyway
    unreported_.push_back(signal);
    if (first_stop_ == 0) first_stop_ = signal;
  }
}

std::vector<int> LauncherSignals::ReadStops() {
  Drain();
  std::vector<int> stops;
  stops.swap(unreported_);
  return stops;
}

void LauncherSignals::Wait(std::chrono::milliseconds timeout) {
  pollfd fd{fd_.get(), POLLIN, 0};
  ::poll(&fd, 1, static_cast<int>(timeout.count()));
  Drain();
}

}  // namespace kiln::launch
