#pragma once

// The rank shim: `kiln exec-rank RUN_DIR -- COMMAND...`, what mpirun starts for each rank of
// a run whose distributed_backend is mpi (the launcher starts the ranks of every other run
// itself and needs no shim).
//
// 1. Takes the rank's identity from Open MPI's variables (rank_env.h) and adds RANK,
//    WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK and KILN_RANK, plus the rank's GPU
//    for use_gpu runs, so torch.distributed env:// and Kiln's Run API work under mpirun.
// 2. Runs COMMAND as its child with stdout and stderr captured into logs/rank-N.log, line by
//    line with timestamps, exactly as the launcher captures the ranks it starts.
// 3. Passes SIGTERM, SIGINT and SIGHUP on to the child; the child gets SIGKILL if the shim
//    dies first, so a rank never outlives its shim.
// 4. When the child ends, writes logs/rank-N.exit.json (rank_exit.h) and ends the same way:
//    the same exit code, or killed by the same signal, so mpirun sees what the rank did.

#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/subprocess.h"

namespace kiln::launch {

struct RankShimOptions {
  std::filesystem::path run_dir;
  std::vector<std::string> command;
};

// Runs the rank to its end and returns how it ended. An error means the rank never ran
// (no Open MPI identity, an unreadable plan, a command that cannot start).
Result<ExitStatus> RunRankShim(const RankShimOptions& options);

// Ends this process the way `exit` says: exit(code), or the same signal with its default
// action (no core file). Never returns.
[[noreturn]] void ExitLike(const ExitStatus& exit);

}  // namespace kiln::launch
