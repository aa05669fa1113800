#pragma once

// The batch script a Slurm target submits for a run (runs/<id>/slurm.sbatch): it asks for
// the run's nodes and tasks and runs `kiln launch` on the allocation's first node, which
// starts the ranks over every node (launch/launcher.h). For example:
//
//   #!/bin/sh
//   #SBATCH --job-name=kiln-fashion-mnist-20261201-101500-a1b2
//   #SBATCH --partition=debug
//   #SBATCH --nodes=2
//   #SBATCH --ntasks-per-node=2
//   #SBATCH --output=/shared/runs/<id>/launcher.log
//   #SBATCH --open-mode=append
//   #SBATCH --no-requeue
//   #SBATCH --export=ALL
//   exec /opt/kiln/bin/kiln launch /shared/runs/<id>

#include <filesystem>
#include <string>

#include "compute/slurm/slurm_config.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"

namespace kiln::compute {

std::string SbatchScript(const SlurmConfig& config, const launch::RunPlan& plan,
                         const launch::RunDir& dir, const std::filesystem::path& kiln_program);

}  // namespace kiln::compute
