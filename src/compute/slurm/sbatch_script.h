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
//   #SBATCH --export=HOME,KILN_RUN_STORE,KILN_RUN_TOKEN,LANG,PATH
//   export SLURM_EXPORT_ENV=ALL
//   exec /opt/kiln/bin/kiln launch /shared/runs/<id>
//
// Every value is quoted, for sbatch's reading of the #SBATCH lines (quotes group, a
// backslash escapes) and for the shell alike; a value holding a newline or a NUL, which no
// quoting keeps on its line, is refused. --export names variables, never values: sbatch
// takes them from its own environment (SlurmTarget sets the store access there), so no
// secret is written into the script, and nothing else of the submitting process's
// environment reaches the job.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "compute/slurm/slurm_config.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"

namespace kiln::compute {

// The names for --export, sorted: the launcher's store access and tunables, and the
// variables of `env` ("NAME=value", sbatch's environment) that a rank may inherit
// (launch/rank_env.h), whatever is set of them.
std::vector<std::string> SbatchExportNames(const std::vector<std::string>& env);

// InvalidArgument, naming the value, for one with a newline or a NUL.
Result<std::string> SbatchScript(const SlurmConfig& config, const launch::RunPlan& plan,
                                 const launch::RunDir& dir,
                                 const std::filesystem::path& kiln_program,
                                 const std::vector<std::string>& export_names);

// `value` quoted for an #SBATCH line (and a shell): as it is when it is plain, else in
// double quotes with \, ", $ and ` escaped.
std::string SbatchQuote(std::string_view value);

}  // namespace kiln::compute
