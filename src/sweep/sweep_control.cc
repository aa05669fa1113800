#include "sweep/sweep_control.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <thread>

#include "client/remote_submit.h"
#include "client/run_id.h"
#include "client/submit.h"
#include "common/files.h"
#include "common/random.h"
#include "common/strings.h"
#include "common/time.h"
#include "common/tunables.h"
#include "common/unique_fd.h"
#include "compute/local/local_target.h"
#include "launch/launcher_lock.h"
#include "launch/rank_env.h"
#include "store/wire.h"
#include "sweep/sweep_driver.h"

namespace kiln::sweep {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

Result<store::Run> SweepRun(client::Workspace& workspace, std::string_view id) {
  KILN_ASSIGN_OR_RETURN(const std::string full, client::ResolveRunId(workspace.store(), id));
  KILN_ASSIGN_OR_RETURN(store::Run run, workspace.store().GetRun(full));
  if (run.kind != store::RunKind::kSweep) {
    return InvalidArgumentError(fmt::format("run {} is a job, not a sweep", full));
  }
  return run;
}

// Checks each resume_from sweep and names it by its whole id in `spec`, as the driver reads
// it.
Status CheckResumeFrom(client::Workspace& workspace, SweepSpec& spec, std::string_view label) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < spec.resume_from.size(); ++i) {
    const std::string where = fmt::format("{}: resume_from[{}]", label, i);
    Result<store::Run> earlier = SweepRun(workspace, spec.resume_from[i]);
    if (!earlier.ok()) return earlier.status().WithPrefix(where);
    if (earlier->status != store::RunStatus::kCompleted &&
        earlier->status != store::RunStatus::kCanceled) {
      return InvalidArgumentError(
          fmt::format("{}: sweep {} is {}; only Completed or Canceled sweeps can be resumed from",
                      where, earlier->id, store::RunStatusName(earlier->status)));
    }
    if (!seen.insert(earlier->id).second) {
      return InvalidArgumentError(fmt::format("{}: sweep {} is listed twice", where, earlier->id));
    }
    spec.resume_from[i] = earlier->id;
    const json stored = json::parse(earlier->spec_json, nullptr, false);
    Result<SweepSpec> other = SweepFromJson(stored, earlier->id);
    if (!other.ok()) return other.status().WithPrefix(where);
    if (other->objective.primary_metric != spec.objective.primary_metric ||
        other->objective.goal != spec.objective.goal) {
      return InvalidArgumentError(fmt::format(
          "{}: sweep {} optimised {} ({}), this one {} ({}); their results cannot be shared", where,
          earlier->id, other->objective.primary_metric, GoalName(other->objective.goal),
          spec.objective.primary_metric, GoalName(spec.objective.goal)));
    }
  }
  return Status::Ok();
}

}  // namespace

fs::path DriverLock(const store::Run& sweep) { return fs::path(sweep.run_dir) / "driver.lock"; }

Result<bool> DriverAlive(const store::Run& sweep) {
  if (sweep.host != compute::LocalHostName()) return false;
  return launch::IsLauncherAlive(DriverLock(sweep));
}

namespace {

// A sweep's driver runs on the host it was submitted from: only there can its lock be seen.
Status CheckHost(const store::Run& sweep, std::string_view verb) {
  const std::string here = compute::LocalHostName();
  if (sweep.host == here) return Status::Ok();
  return FailedPreconditionError(
      fmt::format("sweep {} is driven from host {}; {} it there (this is {})", sweep.id, sweep.host,
                  verb, here));
}

}  // namespace

Result<SweepSubmission> SubmitSweep(client::Workspace& workspace, const LoadedSweep& loaded) {
  if (workspace.server() == nullptr) {
    return SubmitSweepWith(
        workspace, loaded, [&] { return client::TakeSnapshot(workspace, loaded.trial); }, "",
        [&](const store::Run& sweep) { return StartDriver(workspace, sweep); });
  }
  // The server checks and drives it; the snapshot goes first, as a job's does.
  KILN_ASSIGN_OR_RETURN(const snapshot::SnapshotInfo snapshot,
                        client::SendSnapshot(workspace, loaded.trial));
  const spec::SpecSource& source = loaded.trial.source;
  json sweep = SweepToJson(loaded.spec);
  // A seed the user did not give is the server's to draw, as the embedded submit does.
  if (!loaded.spec.seed_given) sweep["sampling"].erase("seed");
  const json request = {{"sweep", std::move(sweep)},
                        {"snapshot_id", snapshot.id},
                        {"source",
                         {{"file", source.file_label()},
                          {"flag_fields", source.flag_fields()},
                          {"flag_params", source.flag_params()}}}};
  KILN_ASSIGN_OR_RETURN(const json answer, workspace.server()->Post("/v1/sweeps", request));
  KILN_ASSIGN_OR_RETURN(store::Run run, store::wire::RunFromJson(answer));
  return SweepSubmission{std::move(run), snapshot};
}

Result<SweepSubmission> SubmitSweepWith(client::Workspace& workspace, const LoadedSweep& loaded,
                                        const std::function<Result<snapshot::SnapshotInfo>()>& take,
                                        const std::string& submitted_by,
                                        const std::function<Status(const store::Run&)>& start) {
  SweepSpec spec = loaded.spec;
  const spec::LoadedJob& trial = loaded.trial;
  // 1.
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<compute::ComputeTarget> target,
                        workspace.Target(spec.trial.compute_target));
  KILN_RETURN_IF_ERROR(target->Admit(spec.trial, trial.source));
  KILN_RETURN_IF_ERROR(CheckResumeFrom(workspace, spec, trial.source.file_label()));
  // 2. 53 bits: the seed survives JSON readers that hold numbers as doubles.
  if (!spec.seed_given) {
    spec.sampling.seed = std::stoull(RandomHex(14), nullptr, 16) >> 3;
  }
  // 3.
  KILN_ASSIGN_OR_RETURN(const snapshot::SnapshotInfo snapshot, take());
  // 4.
  const std::string id = client::NewRunId(spec.experiment, SystemClock().Now());
  const fs::path run_dir = workspace.runs_root() / id;
  std::error_code error;
  fs::create_directories(run_dir, error);
  if (error) {
    return InternalError(fmt::format("cannot create {}: {}", run_dir.string(), error.message()));
  }
  store::Run record;
  record.id = id;
  record.kind = store::RunKind::kSweep;
  record.experiment = spec.experiment;
  record.display_name = spec.display_name;
  record.spec_json = SweepToJson(spec).dump();
  record.snapshot_id = snapshot.id;
  record.compute_target = spec.trial.compute_target;
  record.run_dir = run_dir.string();
  record.host = compute::LocalHostName();
  record.submitted_by = submitted_by.empty() ? client::OsUserName() : submitted_by;
  Result<store::Run> created = workspace.store().CreateRun(record);
  if (!created.ok()) {
    RemoveTree(run_dir).IgnoreError();
    return created.status();
  }
  if (Status started = start(*created); !started.ok()) {
    MarkSweepFailed(workspace.store(), id, started.message());
    return started;
  }
  return SweepSubmission{std::move(created).value(), snapshot};
}

Result<store::Run> ReopenForResume(client::Workspace& workspace, std::string_view id,
                                   const std::string& who) {
  KILN_ASSIGN_OR_RETURN(store::Run sweep, SweepRun(workspace, id));
  if (sweep.status == store::RunStatus::kCompleted) {
    return FailedPreconditionError(fmt::format(
        "sweep {} has completed; for more trials submit a new sweep with resume_from: [{}]",
        sweep.id, sweep.id));
  }
  if (!store::IsTerminal(sweep.status)) return sweep;
  return workspace.store().ReopenSweep(sweep.id, fmt::format("resumed by {}", who));
}

Status StartDriver(client::Workspace& workspace, const store::Run& sweep) {
  Result<launch::LauncherLock> lock = launch::LauncherLock::Acquire(DriverLock(sweep));
  if (!lock.ok()) {
    if (lock.status().code() != StatusCode::kFailedPrecondition) return lock.status();
    std::optional<int> owner = launch::LauncherLockOwner(DriverLock(sweep));
    return FailedPreconditionError(
        fmt::format("sweep {} has a driver already{}", sweep.id,
                    owner ? fmt::format(" (process {})", *owner) : std::string()));
  }
  const fs::path log_path = fs::path(sweep.run_dir) / "driver.log";
  UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log) return ErrnoError(fmt::format("cannot create {}", log_path.string()), errno);
  KILN_RETURN_IF_ERROR(lock->SetInheritable(true));
  // The driver opens the same workspace and store as this process (given in its
  // environment, never on its command line); it carries no run's variables.
  std::vector<std::string> env;
  for (const std::string& entry : CurrentEnvironment()) {
    const std::string name = entry.substr(0, entry.find('='));
    if (!launch::IsRunScopedVariable(name) && name != kKilnHome.env && name != kKilnStore.env) {
      env.push_back(entry);
    }
  }
  env.push_back(fmt::format("{}={}", kKilnHome.env, workspace.home().string()));
  env.push_back(fmt::format("{}={}", kKilnStore.env, workspace.store_url()));
  SpawnOptions options;
  options.argv = {workspace.kiln_program().string(), "sweep", "drive", sweep.id, "--lock-fd",
                  std::to_string(lock->fd())};
  options.env = std::move(env);
  options.cwd = sweep.run_dir;
  options.stdout_fd = log.get();
  options.stderr_fd = log.get();
  options.keep_fds = {lock->fd()};
  options.detach = true;
  Result<Subprocess> driver = workspace.spawner().Spawn(options);
  if (!driver.ok()) {
    return driver.status().WithPrefix(
        fmt::format("cannot start the sweep's driver {}", workspace.kiln_program().string()));
  }
  return Status::Ok();
}

Result<store::Run> ResumeSweep(client::Workspace& workspace, std::string_view id) {
  if (workspace.server() != nullptr) {
    KILN_ASSIGN_OR_RETURN(const std::string full, client::ResolveRunId(workspace.store(), id));
    KILN_ASSIGN_OR_RETURN(
        const json answer,
        workspace.server()->Post(fmt::format("/v1/runs/{}/resume", store::http::UrlEncode(full)),
                                 json::object()));
    return store::wire::RunFromJson(answer);
  }
  KILN_ASSIGN_OR_RETURN(store::Run sweep, SweepRun(workspace, id));
  KILN_RETURN_IF_ERROR(CheckHost(sweep, "resume"));
  if (!store::IsTerminal(sweep.status)) {
    KILN_ASSIGN_OR_RETURN(const bool alive, DriverAlive(sweep));
    if (alive) {
      return FailedPreconditionError(
          fmt::format("sweep {} is {} and its driver runs; nothing to resume", sweep.id,
                      store::RunStatusName(sweep.status)));
    }
  }
  KILN_ASSIGN_OR_RETURN(sweep, ReopenForResume(workspace, sweep.id, client::OsUserName()));
  KILN_RETURN_IF_ERROR(StartDriver(workspace, sweep));
  return sweep;
}

Result<store::Run> CancelSweep(client::Workspace& workspace, std::string_view id,
                               std::chrono::milliseconds wait) {
  KILN_ASSIGN_OR_RETURN(store::Run sweep, SweepRun(workspace, id));
  if (store::IsTerminal(sweep.status)) {
    return FailedPreconditionError(fmt::format("sweep {} has ended already ({})", sweep.id,
                                               store::RunStatusName(sweep.status)));
  }
  // A server's driver carries the cancel out; its own workspace never comes here.
  if (workspace.server() == nullptr) KILN_RETURN_IF_ERROR(CheckHost(sweep, "cancel"));
  if (sweep.status != store::RunStatus::kCancelRequested) {
    store::Transition cancel;
    cancel.to = store::RunStatus::kCancelRequested;
    cancel.detail = fmt::format("cancel requested by {}", client::OsUserName());
    KILN_ASSIGN_OR_RETURN(sweep, workspace.store().TransitionRun(sweep.id, cancel));
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  constexpr std::chrono::milliseconds kPoll(100);
  // No driver to hear of it: this process carries the cancel out, holding the driver's lock
  // so that no driver starts beside it. When the lock is held, its driver does the work.
  std::unique_ptr<SweepDriver> driver;
  Result<launch::LauncherLock> lock =
      workspace.server() != nullptr
          ? Result<launch::LauncherLock>(FailedPreconditionError("the server drives it"))
          : launch::LauncherLock::Acquire(DriverLock(sweep));
  if (lock.ok()) {
    KILN_ASSIGN_OR_RETURN(driver, SweepDriver::Open(workspace, sweep.id));
  } else if (lock.status().code() != StatusCode::kFailedPrecondition) {
    return lock.status();
  }
  while (true) {
    if (driver != nullptr) {
      KILN_ASSIGN_OR_RETURN(const bool ended, driver->Step());
      (void)ended;
    }
    KILN_ASSIGN_OR_RETURN(sweep, workspace.store().GetRun(sweep.id));
    if (store::IsTerminal(sweep.status) || std::chrono::steady_clock::now() >= deadline) {
      return sweep;
    }
    std::this_thread::sleep_for(kPoll);
  }
}

}  // namespace kiln::sweep
