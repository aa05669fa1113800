#include "client/reconcile.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "common/strings.h"
#include "common/tunables.h"
#include "launch/launcher_lock.h"
#include "launch/process_sweep.h"
#include "launch/rank_env.h"
#include "launch/run_dir.h"
#include "tracking/ingestor.h"

namespace kiln::client {

using store::RunStatus;

namespace {

// The rank of a metrics/rank-N.spool file name; nullopt for any other name.
std::optional<int> SpoolRank(const std::string& file_name) {
  constexpr std::string_view kPrefix = "rank-";
  constexpr std::string_view kSuffix = ".spool";
  if (!file_name.starts_with(kPrefix) || !file_name.ends_with(kSuffix)) return std::nullopt;
  const std::optional<std::int64_t> rank = ParseInt64(std::string_view(file_name).substr(
      kPrefix.size(), file_name.size() - kPrefix.size() - kSuffix.size()));
  if (!rank || *rank < 0 || *rank > std::numeric_limits<int>::max()) return std::nullopt;
  return static_cast<int>(*rank);
}

// What the dead launcher had not stored of the ranks' metric spools, stored now (its
// processes are stopped, so the spools are complete): nothing a script logged is lost.
// Points stored already are not stored twice (tracking/ingestor.h). Unavailable (the store
// is out of reach) comes back, so the run stays as it is until a later read; anything else
// wrong with a spool is noted for the run's detail.
Result<std::vector<std::string>> IngestLeftoverMetrics(store::Store& store, const store::Run& run) {
  const launch::RunDir dir(run.run_dir);
  std::vector<std::string> notes;
  std::error_code error;
  std::vector<std::pair<int, std::filesystem::path>> spools;
  for (const auto& entry : std::filesystem::directory_iterator(dir.metrics(), error)) {
    if (const std::optional<int> rank = SpoolRank(entry.path().filename().string())) {
      spools.emplace_back(*rank, entry.path());
    }
  }
  std::sort(spools.begin(), spools.end());
  for (const auto& [rank, path] : spools) {
    tracking::SpoolIngestor ingestor(store, run.id, rank, path);
    const Result<tracking::IngestResult> ingested = ingestor.Ingest(/*final=*/true);
    if (!ingested.ok()) {
      if (ingested.status().code() == StatusCode::kUnavailable) return ingested.status();
      notes.push_back(fmt::format("metrics of rank {} could not be stored: {}", rank,
                                  ingested.status().message()));
    } else if (ingested->torn_bytes > 0) {
      notes.push_back(fmt::format(
          "rank {} was stopped while logging; {} bytes of a torn record at the end of its "
          "metric spool were skipped",
          rank, ingested->torn_bytes));
    }
  }
  return notes;
}

}  // namespace

namespace {

// The run as it is once `probe`, its target's answer, is taken into account: a live
// launcher's run with the target's detail, a dead one's settled.
Result<store::Run> Settle(Workspace& workspace, compute::ComputeTarget& target,
                          const store::Run& run, const compute::Probe& probe) {
  if (probe.state != compute::LauncherState::kDead) {
    store::Run seen = run;
    seen.target_detail = probe.detail;
    return seen;
  }

  // The launcher records the final status before it lets go of the lock, so a free lock on
  // an unfinished run means it died. Re-read: it may have finished since our first read.
  KILN_ASSIGN_OR_RETURN(const store::Run current, workspace.store().GetRun(run.id));
  if (store::IsTerminal(current.status)) return current;

  KILN_ASSIGN_OR_RETURN(const std::string stopped, target.StopRemains(current));
  KILN_ASSIGN_OR_RETURN(const std::vector<std::string> notes,
                        IngestLeftoverMetrics(workspace.store(), current));
  const std::optional<int> owner = launch::LauncherLockOwner(launch::RunDir(run.run_dir).lock());
  const std::string launcher =
      owner ? fmt::format("the launcher (pid {})", *owner) : "the launcher";

  store::Transition transition;
  if (current.status == RunStatus::kCancelRequested) {
    transition.to = RunStatus::kCanceled;
    transition.detail = fmt::format("{} was gone; {}", launcher, stopped);
  } else if (!probe.end_reason.empty()) {
    transition.to = RunStatus::kFailed;
    transition.failure_reason = fmt::format("{}; {}", probe.end_reason, stopped);
    transition.detail = transition.failure_reason;
  } else {
    transition.to = RunStatus::kFailed;
    transition.failure_reason = current.status == RunStatus::kQueued
                                    ? fmt::format("{} {}", launcher, kStoppedBeforeStart)
                                    : fmt::format("{} died while the run was {}; {}", launcher,
                                                  store::RunStatusName(current.status), stopped);
    transition.detail = transition.failure_reason;
  }
  for (const std::string& note : notes) transition.detail += "; " + note;
  const Result<store::Run> updated = workspace.store().TransitionRun(run.id, transition);
  if (!updated.ok() && updated.status().code() == StatusCode::kFailedPrecondition) {
    return workspace.store().GetRun(run.id);  // Someone else settled it first.
  }
  return updated;
}

}  // namespace

Result<store::Run> Reconcile(Workspace& workspace, const store::Run& run) {
  // A server reconciles its runs itself, on every read.
  // A sweep has no launcher: its driver's liveness is sweep/'s to tell (sweep_control.h).
  if (store::IsTerminal(run.status) || workspace.server() != nullptr ||
      run.kind == store::RunKind::kSweep) {
    return run;
  }
  const auto target = workspace.Target(run.compute_target);
  if (!target.ok()) return run;  // A target this Kiln does not know cannot be asked.
  KILN_ASSIGN_OR_RETURN(const compute::Probe probe, (*target)->Check(run));
  return Settle(workspace, **target, run, probe);
}

Result<store::Run> ReadRun(Workspace& workspace, std::string_view id) {
  KILN_ASSIGN_OR_RETURN(const store::Run run, workspace.store().GetRun(id));
  return Reconcile(workspace, run);
}

Result<std::vector<store::Run>> ReadRuns(Workspace& workspace, const store::RunFilter& filter) {
  // A server reconciles its runs itself, on every read.
  if (workspace.server() != nullptr) return workspace.store().ListRuns(filter);
  store::RunFilter active;
  active.only_active = true;
  KILN_ASSIGN_OR_RETURN(const std::vector<store::Run> unfinished,
                        workspace.store().ListRuns(active));
  // Each target is asked about all of its unfinished runs at once (CheckAll).
  std::map<std::string, std::vector<store::Run>> by_target;
  for (const store::Run& run : unfinished) {
    if (run.kind != store::RunKind::kSweep) by_target[run.compute_target].push_back(run);
  }
  // What each target says of its live runs (the queue place, Slurm's pending reason): not
  // stored, so carried onto the listing below.
  std::map<std::string, std::string> details;
  for (const auto& [name, runs] : by_target) {
    const auto target = workspace.Target(name);
    if (!target.ok()) continue;  // A target this Kiln does not know cannot be asked.
    const std::vector<Result<compute::Probe>> probes = (*target)->CheckAll(runs);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      KILN_RETURN_IF_ERROR(probes[i].status());
      KILN_ASSIGN_OR_RETURN(const store::Run settled,
                            Settle(workspace, **target, runs[i], *probes[i]));
      if (!settled.target_detail.empty()) details[settled.id] = settled.target_detail;
    }
  }
  KILN_ASSIGN_OR_RETURN(std::vector<store::Run> listed, workspace.store().ListRuns(filter));
  for (store::Run& run : listed) {
    const auto detail = details.find(run.id);
    if (detail != details.end() && !store::IsTerminal(run.status))
      run.target_detail = detail->second;
  }
  return listed;
}

}  // namespace kiln::client
