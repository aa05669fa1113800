#pragma once

// The launcher: `kiln launch <run dir>` runs one job from Queued to its end, on whatever
// machine the compute target started it. It is the same code for every target.
//
// 1. Reads plan.json, opens the store, owns launcher.lock (inherited from submit, or taken).
//    On the local target it then waits, Queued, for the run's slots (slot_queue.h); a
//    cancel while it waits ends the run Canceled. The slots go back once every process of
//    the run has stopped.
// 2. Preparing (run_preparation.h): materializes the snapshot into src/, links src/outputs
//    to outputs/, copies download-mode datastores, builds the job's environment.
// 3. Running: starts each rank in its own process group with the rank environment, its
//    stdout and stderr captured into logs/rank-N.log. For distributed_backend mpi it starts
//    one mpirun instead, which starts every rank through the rank shim (rank_shim.h); the
//    shims capture the logs and write how each rank ended (logs/rank-N.exit.json).
// 4. Supervises in one loop: log lines, child exits, SIGTERM/SIGINT/SIGHUP to the launcher
//    (taken as a cancel), a CancelRequested status in the store (checked every
//    poll_interval), and max_run_duration_seconds.
//    Each tick also ingests what the ranks logged (metrics/rank-N.spool) into the store.
//    The first rank to fail ends the run: the launcher stops all the others at once.
// 5. Stops every process of the run when it ends, whichever way (process_sweep.h), ingests
//    the spools to their end (Finalizing), and records the outcome: Completed or Failed
//    (with the rank, its exit code or signal, and its last 20 log lines), or Canceled. A
//    waiter that sees the final status therefore sees every metric.
//
// The launcher is a child subreaper, so nothing a rank starts can escape the sweep by
// double-forking.

#include <chrono>
#include <filesystem>

#include "common/result.h"
#include "common/subprocess.h"
#include "common/time.h"
#include "store/run_status.h"

namespace kiln::launch {

struct LauncherOptions {
  std::filesystem::path run_dir;
  // A descriptor holding launcher.lock, inherited from submit; -1 takes the lock instead.
  int lock_fd = -1;
  // A descriptor holding the run's place in the local queue (slot_queue.h), inherited from
  // the compute target; -1 joins the queue instead.
  int queue_fd = -1;
  ProcessSpawner* spawner = nullptr;  // RealSpawner() when null
  const Clock* clock = nullptr;       // SystemClock() when null
  std::chrono::milliseconds poll_interval{200};
  // Put first on each rank's PYTHONPATH: the folder holding Kiln's Python package.
  std::filesystem::path python_path;
  // The kiln executable, which mpirun runs as each rank's shim (`kiln exec-rank`).
  std::filesystem::path kiln_program;
};

// Returns the run's final status. An error means the launcher could not own the run (the
// lock is held elsewhere, the plan or store is unreadable) or could not record an outcome.
Result<store::RunStatus> RunLauncher(const LauncherOptions& options);

}  // namespace kiln::launch
