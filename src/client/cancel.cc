#include "client/cancel.h"

#include <fmt/format.h>

#include "client/reconcile.h"
#include "client/run_watch.h"

namespace kiln::client {

Result<store::Run> CancelRun(Workspace& workspace, std::string_view run_id,
                             std::chrono::milliseconds wait) {
  KILN_ASSIGN_OR_RETURN(const store::Run run, ReadRun(workspace, run_id));
  if (store::IsTerminal(run.status)) {
    return FailedPreconditionError(
        fmt::format("run {} has ended already ({})", run_id, store::RunStatusName(run.status)));
  }
  if (run.status == store::RunStatus::kFinalizing) {
    return FailedPreconditionError(
        fmt::format("run {} is finalizing and can no longer be canceled", run_id));
  }
  if (run.status != store::RunStatus::kCancelRequested) {
    store::Transition cancel;
    cancel.to = store::RunStatus::kCancelRequested;
    cancel.detail = "cancel requested";
    const Result<store::Run> requested = workspace.store().TransitionRun(run_id, cancel);
    if (!requested.ok()) return requested.status();
    if (workspace.server() == nullptr) {
      KILN_RETURN_IF_ERROR(TellTargetOfCancel(workspace, *requested));
    }
  }
  if (wait.count() == 0) return workspace.store().GetRun(run_id);
  WaitOptions options;
  options.timeout = wait;
  Result<store::Run> ended = WaitForRun(workspace, run_id, options);
  if (!ended.ok() && ended.status().code() == StatusCode::kDeadlineExceeded) {
    return workspace.store().GetRun(run_id);
  }
  return ended;
}

Status TellTargetOfCancel(Workspace& workspace, const store::Run& run) {
  // A sweep's driver sees its cancel in the store and cancels the trials itself.
  if (run.kind == store::RunKind::kSweep) return Status::Ok();
  Result<std::unique_ptr<compute::ComputeTarget>> target = workspace.Target(run.compute_target);
  if (!target.ok()) return Status::Ok();  // A target this Kiln does not know cannot be told.
  Status told = (*target)->Cancel(run);
  if (!told.ok()) {
    return told.WithPrefix(fmt::format("the cancel of run {} is recorded, but compute target '{}'",
                                       run.id, run.compute_target));
  }
  return Status::Ok();
}

}  // namespace kiln::client
