#include "launch/warm_start.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

namespace kiln::launch {

std::filesystem::path WarmBootstrap(const std::filesystem::path& python_path) {
  if (python_path.empty()) return {};
  std::filesystem::path bootstrap = python_path / "kiln" / "_warm_start.py";
  std::error_code error;
  return std::filesystem::is_regular_file(bootstrap, error) ? bootstrap : std::filesystem::path();
}

bool CanStartWarm(const RunPlan& plan, const std::filesystem::path& bootstrap) {
  return plan.warm_start && !bootstrap.empty() && !RanksUnderShim(plan) &&
         plan.ranks.world_size() == 1 && plan.command.size() >= 2 &&
         plan.command[1].ends_with(".py");
}

Result<WarmGate> MakeWarm(ProcessStart& start, const std::filesystem::path& bootstrap,
                          const WarmStartPlan& warm) {
  if (start.argv.size() < 2 || !start.argv[1].ends_with(".py")) {
    return FailedPreconditionError(
        fmt::format("{} is not an interpreter and a script; it cannot start warm", start.name));
  }
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    return ErrnoError("socketpair for the warm start", errno);
  }
  WarmGate gate{UniqueFd(ends[0]), UniqueFd(ends[1])};
  start.argv.insert(start.argv.begin() + 1, bootstrap.string());
  start.env.push_back(fmt::format("KILN_WARM_FD={}", gate.rank.get()));
  start.env.push_back("KILN_WARM_PRELOAD=" + warm.preload);
  return gate;
}

Status OpenGate(UniqueFd& launcher_end) {
  const char go = '1';
  const ssize_t sent = ::send(launcher_end.get(), &go, 1, MSG_NOSIGNAL);
  const int saved = errno;
  launcher_end.reset();
  if (sent == 1) return Status::Ok();
  if (saved == EPIPE || saved == ECONNRESET) {
    return FailedPreconditionError("the rank started warm is gone");
  }
  return ErrnoError("cannot let the warm rank start", saved);
}

}  // namespace kiln::launch
