#include "compute/local/local_target.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "common/strings.h"
#include "common/tunables.h"
#include "common/unique_fd.h"
#include "launch/gpus.h"
#include "launch/process_sweep.h"
#include "launch/rank_env.h"
#include "launch/run_plan.h"

namespace kiln::compute {
namespace fs = std::filesystem;

namespace {

fs::path FindInSearchPath(std::string_view name) {
  const char* path = std::getenv("PATH");
  return FindInPath(name, path != nullptr ? path : "");
}

}  // namespace

std::string LocalHostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

LocalTarget::LocalTarget(fs::path kiln_program, ProcessSpawner& spawner, fs::path queue_dir)
    : kiln_program_(std::move(kiln_program)),
      spawner_(spawner),
      queue_(std::move(queue_dir)),
      host_(LocalHostName()) {}

std::optional<launch::SlotRequest> LocalTarget::Slots(const spec::JobSpec& spec) const {
  const std::int64_t need =
      static_cast<std::int64_t>(spec.world_size()) * std::max(1, spec.slots_per_rank);
  launch::SlotRequest request;
  request.queue_dir = queue_.dir();
  request.kind = spec.use_gpu ? launch::SlotKind::kGpus : launch::SlotKind::kCores;
  request.need = static_cast<int>(std::min<std::int64_t>(need, INT32_MAX));
  return request;
}

Status LocalTarget::Admit(const spec::JobSpec& spec, const spec::SpecSource& source) const {
  std::vector<std::string> problems;
  if (spec.node_count > 1) {
    problems.push_back(fmt::format(
        "{}: compute target 'local' is one machine; node_count must be 1, got {} (use a cluster "
        "compute target for more nodes)",
        source.Where("node_count"), spec.node_count));
  }
  if (spec.distributed_backend == spec::DistributedBackend::kMpi &&
      FindInSearchPath("mpirun").empty()) {
    problems.push_back(fmt::format(
        "{}: mpi starts the ranks with Open MPI's mpirun, which is not on PATH; install "
        "openmpi-bin (scripts/setup.sh does) or use gloo",
        source.Where("distributed_backend")));
  }
  if (std::string gpu = GpuBackendProblem(spec, source); !gpu.empty()) {
    problems.push_back(std::move(gpu));
  }
  if (spec.use_gpu && launch::CountNvidiaDevices() == 0) {
    problems.push_back(fmt::format(
        "{}: is true but this machine has no GPU (no /dev/nvidia* device); set use_gpu: false",
        source.Where("use_gpu")));
  }
  if (problems.empty()) {
    const launch::SlotRequest request = *Slots(spec);
    KILN_ASSIGN_OR_RETURN(const int capacity, queue_.Capacity(request.kind));
    if (request.need > capacity) {
      const bool by_slots = spec.slots_per_rank > 1;
      problems.push_back(fmt::format(
          "{}: the job needs {} ({} rank{} x {} each), but compute target 'local' has {} in all; "
          "lower {}, or give the target more with `kiln compute set local --{} N`",
          source.Where(by_slots ? "slots_per_rank" : "process_count_per_node"),
          launch::CountOf(request.need, request.kind), spec.world_size(),
          spec.world_size() == 1 ? "" : "s", spec.slots_per_rank,
          launch::CountOf(capacity, request.kind),
          by_slots ? "slots_per_rank" : "process_count_per_node",
          launch::SlotKindName(request.kind)));
    }
  }
  if (problems.empty()) return Status::Ok();
  return InvalidArgumentError(JoinStrings(problems, "\n"));
}

Status LocalTarget::Submit(const launch::RunDir& dir, launch::LauncherLock lock,
                           const launch::StoreAccess& access) {
  UniqueFd log(::open(dir.launcher_log().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log) return ErrnoError(fmt::format("cannot create {}", dir.launcher_log().string()), errno);
  KILN_RETURN_IF_ERROR(lock.SetInheritable(true));

  // The launcher must not carry variables of a run it may have been submitted from; it
  // gets its own store access. (Its ranks inherit only what rank_env.h allows.)
  std::vector<std::string> env;
  for (const std::string& entry : CurrentEnvironment()) {
    const std::string name = entry.substr(0, entry.find('='));
    if (!launch::IsRunScopedVariable(name)) env.push_back(entry);
  }
  for (std::string& variable : launch::StoreAccessVariables(access)) {
    env.push_back(std::move(variable));
  }
  // The run's place in the queue is taken now, in submit order, and handed over like the
  // lock: runs submitted one after another are served in that order, whenever their
  // launchers start.
  std::optional<launch::SlotTicket> place;
  KILN_ASSIGN_OR_RETURN(const launch::RunPlan plan, launch::ReadPlan(dir));
  if (plan.slots) {
    Result<launch::SlotTicket> joined = launch::SlotQueue(plan.slots->queue_dir)
                                            .Join(plan.run_id, SystemClock().Now(), *plan.slots);
    if (!joined.ok()) return joined.status().WithPrefix("cannot queue the run");
    place.emplace(std::move(joined).value());
  }
  SpawnOptions options;
  options.argv = {kiln_program_.string(), "launch", dir.root().string(), "--lock-fd",
                  std::to_string(lock.fd())};
  if (place) {
    options.argv.insert(options.argv.end(), {"--queue-fd", std::to_string(place->fd())});
    options.keep_fds.push_back(place->fd());
  }
  options.env = std::move(env);
  options.cwd = dir.root();
  options.stdout_fd = log.get();
  options.stderr_fd = log.get();
  options.keep_fds.push_back(lock.fd());
  options.detach = true;
  Result<Subprocess> launcher = spawner_.Spawn(options);
  if (!launcher.ok()) {
    return launcher.status().WithPrefix(
        fmt::format("cannot start the launcher {}", kiln_program_.string()));
  }
  // `lock` closes here; the launcher's inherited descriptor keeps the lock (and the place).
  if (place) place->HandedOver();
  return Status::Ok();
}

Result<Probe> LocalTarget::Check(const store::Run& run) const {
  if (run.host != host_) return Probe{LauncherState::kUnknown, "", ""};
  const launch::RunDir dir(run.run_dir);
  KILN_ASSIGN_OR_RETURN(const bool alive, launch::IsLauncherAlive(dir.lock()));
  if (!alive) return Probe{LauncherState::kDead, "", ""};
  std::string detail;
  if (run.status == store::RunStatus::kQueued) {
    Result<std::string> place = queue_.DescribeWait(run.id);
    if (place.ok()) detail = std::move(place).value();
  }
  return Probe{LauncherState::kAlive, std::move(detail), ""};
}

Result<std::string> LocalTarget::StopRemains(const store::Run& run) {
  KILN_ASSIGN_OR_RETURN(const std::int64_t grace, ReadTunable(kKillGraceSeconds));
  const launch::SweepResult sweep =
      launch::StopRunProcesses(0, launch::RunMarker(run.id), std::chrono::seconds(grace), nullptr);
  return sweep.found == 0 ? std::string("no process of the run was left")
                          : fmt::format("{} processes of the run were stopped", sweep.found);
}

}  // namespace kiln::compute
