#pragma once

// The processes the launcher starts to run a job's ranks (step 3 of launcher.h), one of
// three ways:
//   - the ranks themselves, one process per local rank (a local run not under mpi);
//   - one mpirun (distributed_backend mpi), which starts every rank through the rank shim
//     (rank_shim.h), on this machine or over a cluster allocation;
//   - one srun (a cluster run not under mpi), which starts every rank's shim likewise.
// Computing them starts nothing: the launcher spawns what comes back and supervises it.

#include <filesystem>
#include <string>
#include <vector>

#include "launch/rank_env.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"
#include "launch/store_access.h"

namespace kiln::launch {

// One process to start, its output captured into `log`; its working directory is src/.
struct ProcessStart {
  std::string name;  // "rank 3", "mpirun", "srun"
  std::filesystem::path log;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value"
};

struct RankStartInputs {
  const RunPlan* plan = nullptr;
  const RunDir* dir = nullptr;
  // The launcher's store access, handed to the shims of a cluster run (which ask the store
  // whether the run ended); each shim removes it before it starts its rank.
  const StoreAccess* access = nullptr;
  Rendezvous rendezvous;
  std::vector<std::string> base_env;   // the launcher's environment
  std::filesystem::path python_path;   // Kiln's Python package, first on PYTHONPATH
  std::filesystem::path kiln_program;  // `kiln`, which runs each rank's shim
  std::vector<std::string> gpus;       // the GPUs local ranks share out (use_gpu)
  int cores = 1;                       // of one node, for mpirun's placement
  bool as_root = false;
};

// Whether each rank runs under the rank shim (started by mpirun or srun), which writes how
// it ended (rank_exit.h); otherwise the ranks are the launcher's own children.
bool RanksUnderShim(const RunPlan& plan);

std::vector<ProcessStart> PlanRankStarts(const RankStartInputs& inputs);

}  // namespace kiln::launch
