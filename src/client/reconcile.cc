#include "client/reconcile.h"

#include <fmt/format.h>

#include "common/tunables.h"
#include "launch/launcher_lock.h"
#include "launch/process_sweep.h"
#include "launch/rank_env.h"
#include "launch/run_dir.h"

namespace kiln::client {

using store::RunStatus;

Result<store::Run> Reconcile(Workspace& workspace, const store::Run& run) {
  // A server reconciles its runs itself, on every read.
  if (store::IsTerminal(run.status) || workspace.server() != nullptr) return run;
  const auto target = workspace.Target(run.compute_target);
  if (!target.ok()) return run;  // A target this Kiln does not know cannot be asked.
  KILN_ASSIGN_OR_RETURN(const compute::Probe probe, (*target)->Check(run));
  if (probe.state != compute::LauncherState::kDead) {
    store::Run seen = run;
    seen.target_detail = probe.detail;
    return seen;
  }

  // The launcher records the final status before it lets go of the lock, so a free lock on
  // an unfinished run means it died. Re-read: it may have finished since our first read.
  KILN_ASSIGN_OR_RETURN(const store::Run current, workspace.store().GetRun(run.id));
  if (store::IsTerminal(current.status)) return current;

  KILN_ASSIGN_OR_RETURN(const std::string stopped, (*target)->StopRemains(current));
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
                                    ? fmt::format("{} stopped before the run started", launcher)
                                    : fmt::format("{} died while the run was {}; {}", launcher,
                                                  store::RunStatusName(current.status), stopped);
    transition.detail = transition.failure_reason;
  }
  const Result<store::Run> updated = workspace.store().TransitionRun(run.id, transition);
  if (!updated.ok() && updated.status().code() == StatusCode::kFailedPrecondition) {
    return workspace.store().GetRun(run.id);  // Someone else settled it first.
  }
  return updated;
}

Result<store::Run> ReadRun(Workspace& workspace, std::string_view id) {
  KILN_ASSIGN_OR_RETURN(const store::Run run, workspace.store().GetRun(id));
  return Reconcile(workspace, run);
}

Result<std::vector<store::Run>> ReadRuns(Workspace& workspace, const store::RunFilter& filter) {
  store::RunFilter active;
  active.only_active = true;
  KILN_ASSIGN_OR_RETURN(const std::vector<store::Run> unfinished,
                        workspace.store().ListRuns(active));
  for (const store::Run& run : unfinished) KILN_RETURN_IF_ERROR(Reconcile(workspace, run).status());
  return workspace.store().ListRuns(filter);
}

}  // namespace kiln::client
