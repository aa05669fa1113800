#include "client/submit.h"

#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "client/environment_registry.h"
#include "client/gc.h"
#include "client/remote_submit.h"
#include "client/run_id.h"
#include "common/files.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "common/tunables.h"
#include "compute/local/local_target.h"
#include "data/resolver.h"
#include "env/environment_cache.h"
#include "launch/launcher_lock.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"
#include "snapshot/source_scan.h"
#include "spec/spec_json.h"
#include "spec/validate.h"

namespace kiln::client {
namespace fs = std::filesystem;

namespace {

bool IsExecutableFile(const fs::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

// The job's environment with everything filled in: a registered one looked up, the
// estimator's package lists added, the base interpreter found. Nullopt for a job that runs
// on its interpreter as it is.
Result<std::optional<env::EnvironmentSpec>> ResolveEnvironment(Workspace& workspace,
                                                               const spec::LoadedJob& job,
                                                               const std::string& interpreter) {
  const spec::JobSpec& spec = job.spec;
  std::optional<env::EnvironmentSpec> environment = spec.environment;
  if (!spec.environment_name.empty()) {
    EnvironmentRegistry registry(workspace);
    Result<RegisteredEnvironment> registered = registry.Get(spec.environment_name);
    if (!registered.ok()) return registered.status().WithPrefix(job.source.Where("environment"));
    environment = std::move(registered).value().spec;
  }
  if (!environment && spec.pip_packages.empty() && spec.conda_packages.empty()) {
    return std::optional<env::EnvironmentSpec>();
  }
  if (!environment) environment.emplace().python.clear();
  environment->pip_packages.insert(environment->pip_packages.end(), spec.pip_packages.begin(),
                                   spec.pip_packages.end());
  environment->conda_packages.insert(environment->conda_packages.end(), spec.conda_packages.begin(),
                                     spec.conda_packages.end());
  if (environment->python.empty()) {
    environment->python = interpreter.empty() ? std::string(env::kDefaultPython) : interpreter;
  } else if (!fs::path(environment->python).is_absolute()) {
    const char* path = std::getenv("PATH");
    const fs::path found = FindInPath(environment->python, path != nullptr ? path : "");
    if (found.empty()) {
      return InvalidArgumentError(fmt::format("{}: python: '{}' was not found in PATH",
                                              job.source.Where("environment"),
                                              environment->python));
    }
    environment->python = found.string();
  }
  if (Status buildable = env::CheckBuildable(*environment); !buildable.ok()) {
    const std::string_view field = spec.conda_packages.empty() ? "environment" : "conda_packages";
    return buildable.WithPrefix(job.source.Where(field));
  }
  return environment;
}

Result<std::string> FindInterpreter(const spec::LoadedJob& job) {
  if (!job.spec.entry_is_python()) return std::string();
  if (!job.spec.python.empty()) {
    if (fs::path(job.spec.python).is_absolute()) return job.spec.python;
    // A bare name ("python3.11") is looked up in PATH, as a shell would.
    const char* path = std::getenv("PATH");
    const fs::path found = FindInPath(job.spec.python, path != nullptr ? path : "");
    if (!found.empty()) return found.string();
    return InvalidArgumentError(
        fmt::format("{}: '{}' was not found in PATH", job.source.Where("python"), job.spec.python));
  }
  const std::string interpreter = ReadTunable(kKilnPython);
  if (!IsExecutableFile(interpreter)) {
    return InvalidArgumentError(fmt::format(
        "{}: '{}' is not an executable file; install it, set {}, or give the job a python field",
        kKilnPython.env, interpreter, kKilnPython.env));
  }
  return interpreter;
}

}  // namespace

// The name of this process's user ("uid 1000" for one without a passwd entry).
std::string OsUserName() {
  const uid_t uid = ::geteuid();
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return fmt::format("uid {}", uid);
}

Result<snapshot::SnapshotInfo> TakeSnapshot(Workspace& workspace, const spec::LoadedJob& job) {
  const std::string where = job.source.Where("source_directory");
  KILN_ASSIGN_OR_RETURN(const snapshot::SnapshotLimits limits, snapshot::LimitsFromEnvironment());
  Result<snapshot::SourceScan> scan = snapshot::ScanSource(job.spec.source_directory);
  if (!scan.ok()) return scan.status().WithPrefix(where);
  if (Status within = snapshot::CheckLimits(*scan, limits); !within.ok()) {
    return within.WithPrefix(where);
  }
  const bool has_entry = std::any_of(
      scan->files.begin(), scan->files.end(),
      [&](const snapshot::SourceFile& file) { return file.path == job.spec.entry_script; });
  if (!has_entry) {
    return InvalidArgumentError(fmt::format(
        "{}: '{}' is excluded from the snapshot by an ignore file (.kilnignore or .gitignore) in "
        "'{}'; re-include it with a '!{}' line",
        job.source.Where("entry_script"), job.spec.entry_script, job.spec.source_directory.string(),
        job.spec.entry_script));
  }
  snapshot::SnapshotStore snapshots(workspace.snapshots_root());
  // The store's own folders first: a store that cannot be written is not the source's fault.
  KILN_RETURN_IF_ERROR(snapshots.Prepare());
  Result<snapshot::SnapshotInfo> info = snapshots.Create(*scan);
  if (!info.ok()) return info.status().WithPrefix(where);
  return info;
}

Result<SubmitResult> Submit(Workspace& workspace, const spec::LoadedJob& job) {
  if (workspace.server() != nullptr) return SubmitToServer(workspace, job);
  return SubmitWith(workspace, job, [&] { return TakeSnapshot(workspace, job); });
}

Result<SubmitResult> SubmitWith(Workspace& workspace, const spec::LoadedJob& job,
                                const std::function<Result<snapshot::SnapshotInfo>()>& take,
                                const std::string& submitted_by, const store::Trial* trial,
                                const TrialQueueing& queueing) {
  const spec::JobSpec& spec = job.spec;
  // 0: every way in validated the spec already; checked again here, without the files of
  // the submitting machine, so that no caller can skip it.
  spec::ValidateOptions checks;
  checks.check_files = false;
  KILN_RETURN_IF_ERROR(spec::Validate(spec, job.source, checks));
  // 1-3: what can run, and with what.
  Result<std::unique_ptr<compute::ComputeTarget>> target = workspace.Target(spec.compute_target);
  if (!target.ok()) {
    return Status(
        target.status().code() == StatusCode::kNotFound ? StatusCode::kInvalidArgument
                                                        : target.status().code(),
        fmt::format("{}: {}", job.source.Where("compute_target"), target.status().message()));
  }
  KILN_RETURN_IF_ERROR((*target)->Admit(spec, job.source));
  KILN_ASSIGN_OR_RETURN(const std::string interpreter, FindInterpreter(job));
  KILN_ASSIGN_OR_RETURN(const std::optional<env::EnvironmentSpec> environment,
                        ResolveEnvironment(workspace, job, interpreter));

  // 4-5: data and code.
  const std::optional<launch::ClusterPlan> cluster = (*target)->Cluster();
  const std::optional<LauncherReporting>& reporting = workspace.launcher_reporting();
  if (cluster && !reporting) {
    return InvalidArgumentError(fmt::format(
        "{}: '{}' is a cluster; its ranks report through a Kiln server, so submit through "
        "one (--server URL or KILN_SERVER) whose machine can run sbatch",
        job.source.Where("compute_target"), spec.compute_target));
  }
  const std::string run_id = NewRunId(spec.experiment, SystemClock().Now());
  const launch::RunDir run_dir((*target)->RunsRoot(workspace.runs_root()) / run_id);
  KILN_ASSIGN_OR_RETURN(
      data::ResolvedParams params,
      data::ResolveScriptParams(spec.script_params, job.source, workspace.store(), run_dir.root()));
  // Held to the run record: a collection (kiln gc) waits, and never takes the snapshot, the
  // run folder or the environment of a run being made.
  KILN_ASSIGN_OR_RETURN(const UniqueFd gc_hold, HoldOffGc(workspace.home()));
  KILN_ASSIGN_OR_RETURN(const snapshot::SnapshotInfo snapshot, take());

  // 6: the run directory; removed again if anything before the hand-over fails.
  KILN_RETURN_IF_ERROR(run_dir.Create());
  bool minted = false;
  const auto discard = [&](Status status) {
    RemoveTree(run_dir.root()).IgnoreError();
    if (minted && reporting->revoke_run_token) reporting->revoke_run_token(run_id);
    return status;
  };
  Result<launch::LauncherLock> lock = launch::LauncherLock::Acquire(run_dir.lock());
  if (!lock.ok()) return discard(lock.status());
  launch::RunPlan plan;
  plan.run_id = run_id;
  plan.experiment = spec.experiment;
  // The launcher's way to the store; plan.json gets it without its credentials, the
  // launcher gets them in its environment (store_access.h).
  launch::StoreAccess access{workspace.store_url(), "", ""};
  if (reporting) {
    Result<std::string> token = reporting->mint_run_token(run_id);
    if (!token.ok()) return discard(token.status());
    minted = true;
    access = {reporting->store_url, std::move(token).value(), reporting->ca_file};
  }
  plan.store_url = access.url;
  plan.store_ca_file = access.ca_file;
  plan.snapshot_store = workspace.snapshots_root();
  plan.snapshot_id = snapshot.id;
  if (cluster) {
    // The cluster's nodes see the run directory, not this machine's snapshot store.
    const snapshot::SnapshotStore snapshots(workspace.snapshots_root());
    if (Status staged = snapshots.Materialize(snapshot.id, run_dir.src()); !staged.ok()) {
      return discard(staged);
    }
    plan.source_staged = true;
    plan.cluster = cluster;
  }
  std::string ranks_interpreter = interpreter;
  spec::JobSpec stored = spec;
  if (environment) {
    // The environment's variables first: the job's own win (rank_env.h applies in order).
    plan.environment = environment->environment_variables;
    if (environment->NeedsBuild()) {
      // envs/ beside the target's run directories: on a cluster, on its shared filesystem.
      launch::EnvironmentPlan built{*environment, env::EnvironmentHash(*environment),
                                    run_dir.root().parent_path().parent_path() / "envs"};
      ranks_interpreter = (built.cache_root / built.hash / "bin" / "python").string();
      stored.environment_hash = built.hash;
      plan.python_environment = std::move(built);
    }
    stored.environment = environment;
  }
  plan.command = launch::BuildCommand(spec, params.params, ranks_interpreter, run_dir.src());
  plan.environment.insert(plan.environment.end(), spec.environment_variables.begin(),
                          spec.environment_variables.end());
  plan.data = params.bindings;
  plan.ranks = {spec.node_count, spec.process_count_per_node, spec.distributed_backend};
  plan.max_run_duration_seconds = spec.max_run_duration_seconds;
  plan.use_gpu = spec.use_gpu;
  plan.slots = (*target)->Slots(spec);
  if (trial != nullptr && plan.slots) {
    if (queueing.concurrent_limit > 0) {
      plan.slots->group = trial->sweep_id;
      plan.slots->group_limit = queueing.concurrent_limit;
    }
    if (spec.entry_is_python() && spec.world_size() == 1) plan.warm_start = queueing.warm_start;
  }
  plan.spec = spec::SpecToJson(stored);
  // Validate keeps text UTF-8; a value that still is not (a datastore's path) must not end
  // the process half-way with the run directory made.
  std::string spec_json;
  try {
    spec_json = plan.spec.dump();
    if (Status written = launch::WritePlan(run_dir, plan); !written.ok()) return discard(written);
  } catch (const nlohmann::json::exception& error) {
    return discard(InvalidArgumentError(
        fmt::format("the run's plan cannot be written as JSON: {}", error.what())));
  }

  // 7: the record.
  store::Run record;
  record.id = run_id;
  record.experiment = spec.experiment;
  record.display_name = spec.display_name;
  record.spec_json = std::move(spec_json);
  record.snapshot_id = snapshot.id;
  record.compute_target = std::string((*target)->name());
  record.run_dir = run_dir.root().string();
  record.host = compute::LocalHostName();  // where its launcher starts
  record.submitted_by = submitted_by.empty() ? OsUserName() : submitted_by;
  record.params = params.params;
  record.tags = spec.tags;
  Result<store::Run> created = InternalError("unreachable");
  if (trial != nullptr) {
    record.parent_id = trial->sweep_id;
    store::Trial trial_record = *trial;
    trial_record.run_id = run_id;
    created = workspace.store().CreateTrial(record, trial_record);
  } else {
    created = workspace.store().CreateRun(record);
  }
  if (!created.ok()) return discard(created.status());

  // 8: the hand-over. The run exists now, so a failure is recorded on it.
  if (Status started = (*target)->Submit(run_dir, std::move(lock).value(), access); !started.ok()) {
    store::Transition failed;
    failed.to = store::RunStatus::kFailed;
    failed.failure_reason = started.message();
    failed.detail = started.message();
    workspace.store().TransitionRun(run_id, failed).status().IgnoreError();
    return started;
  }
  return SubmitResult{std::move(created).value(), snapshot};
}

}  // namespace kiln::client
