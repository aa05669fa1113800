#pragma once

// What a user does with a sweep on the embedded store, shared by the CLI and the SDK:
// submit one, resume or cancel it, and ask whether its driver runs.
//
// A sweep's driver (sweep_driver.h) is a detached `kiln sweep drive` process that holds
// runs/<sweep id>/driver.lock (an F_OFD lock, as launchers hold theirs), so the driver's
// death, however it dies, frees the lock, and a new driver can take over.
//
// With a Kiln server the server drives its sweeps (sweep_host.h): submit sends the trial's
// snapshot and POST /v1/sweeps, resume is POST /v1/runs/{id}/resume, and cancel asks the
// sweep to cancel (CancelRequested) and waits.

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "client/workspace.h"
#include "common/result.h"
#include "snapshot/snapshot_store.h"
#include "store/records.h"
#include "sweep/sweep_file.h"

namespace kiln::sweep {

struct SweepSubmission {
  store::Run sweep;
  snapshot::SnapshotInfo snapshot;
};

// 1. Checks what the trials need (their compute target admits the job) and each
//    resume_from sweep (it exists, has ended, and has the same primary metric and goal).
// 2. Draws a seed when the sampling has none, so the sweep's proposals can be repeated.
// 3. Snapshots the trial job's source folder once: every trial runs that snapshot.
// 4. Stores the sweep (a run of kind sweep, Queued, its spec as SweepToJson) with its run
//    directory, and starts its driver. A driver that cannot start leaves the sweep Failed
//    with the reason. Errors of 1 and 3 leave nothing behind.
Result<SweepSubmission> SubmitSweep(client::Workspace& workspace, const LoadedSweep& sweep);

// The same with step 3 done by `take` and the driver started by `start`; `submitted_by`
// names who submitted (this process's OS user when empty). A server submits what it
// received this way, with its own SweepHost.
Result<SweepSubmission> SubmitSweepWith(client::Workspace& workspace, const LoadedSweep& sweep,
                                        const std::function<Result<snapshot::SnapshotInfo>()>& take,
                                        const std::string& submitted_by,
                                        const std::function<Status(const store::Run&)>& start);

// Reopens a Canceled or Failed sweep (Store::ReopenSweep) for `start`; a sweep that has not
// ended is returned as it is. FailedPrecondition for a Completed one. The server's resume.
Result<store::Run> ReopenForResume(client::Workspace& workspace, std::string_view id,
                                   const std::string& who);

// runs/<sweep id>/driver.lock.
std::filesystem::path DriverLock(const store::Run& sweep);
// Whether a driver holds the sweep's lock; false for a sweep of another host, which this
// machine cannot tell.
Result<bool> DriverAlive(const store::Run& sweep);

// Starts a detached driver (`kiln sweep drive ID`), logging to runs/<id>/driver.log.
// FailedPrecondition when one holds the lock already.
Status StartDriver(client::Workspace& workspace, const store::Run& sweep);

// Continues a sweep: one whose driver died goes on where it stopped; a Canceled or Failed
// one is reopened (Store::ReopenSweep) and makes the trials it has left. FailedPrecondition
// for a sweep whose driver runs, and for a Completed one.
Result<store::Run> ResumeSweep(client::Workspace& workspace, std::string_view id);

// Asks the sweep to cancel: its driver cancels every running trial and ends it Canceled.
// Without a live driver this process does that itself. Waits up to `wait` for the end.
// FailedPrecondition for a sweep that has ended.
Result<store::Run> CancelSweep(client::Workspace& workspace, std::string_view id,
                               std::chrono::milliseconds wait);

}  // namespace kiln::sweep
