#pragma once

// The srun command that starts the ranks of a cluster run whose distributed_backend is not
// mpi (gloo, nccl, none), from inside the run's Slurm allocation:
//   --nodes N --ntasks W --ntasks-per-node P   the run's layout over the allocation
//   --kill-on-bad-exit=1                        a rank that fails ends the step
//   --mpi=none --cpu-bind=none                  no MPI plugin; ranks use every core
//   --export=ALL                                the launcher's environment (MASTER_ADDR, ...)
// followed by the rank command (kiln exec-rank RUN_DIR -- COMMAND...), which takes each
// rank's identity from srun's SLURM_PROCID, SLURM_LOCALID and SLURM_NODEID.

#include <string>
#include <vector>

#include "launch/run_plan.h"

namespace kiln::launch {

std::vector<std::string> BuildSrunCommand(const RankLayout& layout,
                                          const std::vector<std::string>& rank_command);

}  // namespace kiln::launch
