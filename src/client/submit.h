#pragma once

// Submit: the one path from a loaded job spec to a running launcher, shared by the CLI and
// the SDK.
//
// 0. The spec passes spec::Validate (without the filesystem checks, which the loader did
//    where the files are).
// 1. The job's compute target admits it (node and GPU counts).
// 2. The interpreter of a .py entry script is found (the job's `python`, else KILN_PYTHON).
// 3. The job's environment is resolved (a registered one looked up, pip_packages and
//    conda_packages added); conda packages without conda on PATH are refused. Its build
//    happens in the launcher, while the run is Preparing.
// 4. Datastore references in script_params are resolved against the registry.
// 5. The source folder is scanned, checked against the snapshot limits, and snapshotted;
//    the entry script must be in the snapshot (not ignored).
// 6. The run directory, plan.json and the held launcher lock are made.
// 7. The run is stored as Queued.
// 8. The target starts the launcher, which takes over the lock.
// Any failure in 0-7 leaves no run directory and no stored run. A failure in 8 leaves the
// run Failed with the reason. Errors from 1-5 are InvalidArgument, ResourceExhausted or
// Unimplemented, worded "<file>: <field>: <problem>".

#include <functional>
#include <optional>
#include <string>

#include "client/workspace.h"
#include "common/result.h"
#include "launch/run_plan.h"
#include "snapshot/snapshot_store.h"
#include "spec/spec_loader.h"
#include "store/records.h"

namespace kiln::client {

// How a sweep's trial goes through the local target's queue (launch/slot_queue.h).
struct TrialQueueing {
  // The sweep's max_concurrent_trials: at most so many of its trials hold slots at once.
  int concurrent_limit = 0;
  // Start the trial's rank warm while it waits (launch/run_plan.h WarmStartPlan).
  std::optional<launch::WarmStartPlan> warm_start;
};

struct SubmitResult {
  store::Run run;
  snapshot::SnapshotInfo snapshot;
};

// With a server (workspace.server()), steps 1-4 and 6-8 are the server's: the snapshot is
// taken here and sent (remote_submit.h), and the server runs SubmitWith().
Result<SubmitResult> Submit(Workspace& workspace, const spec::LoadedJob& job);

// Steps 1-8 with step 5 done by `take`; `submitted_by` names who submitted (this process's
// OS user when empty). A server submits what it received this way, with the API token's
// name. The run records this machine as its host, whichever machine the job came from: the
// launcher of a local run runs here, and only here can a dead one be found
// (client/reconcile.h).
// With `trial`, the run is that trial of its sweep: step 7 stores it with
// Store::CreateTrial (trial->run_id is filled in), so an index taken already is
// AlreadyExists and leaves nothing behind. On a target with a slot queue, `queueing` says
// how the trial waits there; a warm start applies to one rank of a .py entry.
Result<SubmitResult> SubmitWith(Workspace& workspace, const spec::LoadedJob& job,
                                const std::function<Result<snapshot::SnapshotInfo>()>& take,
                                const std::string& submitted_by = "",
                                const store::Trial* trial = nullptr,
                                const TrialQueueing& queueing = {});

// The name of this process's user ("uid 1000" for one without a passwd entry): who
// submits, without a server.
std::string OsUserName();

// Step 5 on this machine: scans the job's source_directory, checks the limits and that the
// entry script is included, and snapshots it into the workspace's snapshot store.
Result<snapshot::SnapshotInfo> TakeSnapshot(Workspace& workspace, const spec::LoadedJob& job);

}  // namespace kiln::client
