#pragma once

// What a user does with a sweep on the embedded store, shared by the CLI and the SDK:
// submit one, resume or cancel it, and ask whether its driver runs.
//
// A sweep's driver (sweep_driver.h) is a detached `kiln sweep drive` process that holds
// runs/<sweep id>/driver.lock (an F_OFD lock, as launchers hold theirs), so the driver's
// death, however it dies, frees the lock, and a new driver can take over.
//
// With a Kiln server these are Unimplemented for now: a server's sweeps are to be driven by
// the server itself.

#include <chrono>
#include <filesystem>
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
