#pragma once

// The mpirun command line for a run whose distributed_backend is mpi, with the flags a
// launcher needs (horovodrun passes the same ones):
//   --allow-run-as-root           when the launcher is root (Open MPI refuses otherwise)
//   -np W --map-by ppr:N:node     W ranks, N per node, placed node by node
//   --oversubscribe               when N exceeds the node's cores
//   --bind-to none                ranks use every core (PyTorch runs its own threads)
//   --tag-output                  mpirun's own per-rank lines say which rank they are from
//   -wdir DIR                     the materialized snapshot
//   -x NAME ...                   the job's environment, exported to every rank on every node
// followed by the rank command (kiln exec-rank RUN_DIR -- COMMAND...).

#include <filesystem>
#include <string>
#include <vector>

#include "launch/run_plan.h"

namespace kiln::launch {

struct MpirunOptions {
  RankLayout layout;
  bool run_as_root = false;
  int cores = 1;  // cores of one node
  std::filesystem::path working_dir;
  std::vector<std::string> exported;  // variable names for -x
  std::vector<std::string> rank_command;
};

std::vector<std::string> BuildMpirunCommand(const MpirunOptions& options);

// Names of the variables in `env` ("NAME=value") that are not in `base` with the same value:
// what a rank needs beyond the environment mpirun's remote daemons start with.
std::vector<std::string> ExportedVariables(const std::vector<std::string>& base,
                                           const std::vector<std::string>& env);

}  // namespace kiln::launch
