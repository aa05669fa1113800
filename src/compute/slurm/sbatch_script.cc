#include "compute/slurm/sbatch_script.h"

#include <fmt/format.h>

#include "common/strings.h"

namespace kiln::compute {

std::string SbatchScript(const SlurmConfig& config, const launch::RunPlan& plan,
                         const launch::RunDir& dir, const std::filesystem::path& kiln_program) {
  std::string script = "#!/bin/sh\n";
  const auto directive = [&](std::string_view option) {
    script += fmt::format("#SBATCH {}\n", option);
  };
  directive(fmt::format("--job-name=kiln-{}", plan.run_id));
  directive(fmt::format("--partition={}", config.partition));
  directive(fmt::format("--nodes={}", plan.ranks.node_count));
  directive(fmt::format("--ntasks-per-node={}", plan.ranks.process_count_per_node));
  if (plan.use_gpu) directive(fmt::format("--gpus-per-node={}", plan.ranks.process_count_per_node));
  directive(fmt::format("--output={}", dir.launcher_log().string()));
  directive("--open-mode=append");
  // Kiln decides what a failed run becomes; Slurm must not start it again by itself.
  directive("--no-requeue");
  directive("--export=ALL");
  if (!config.slurm_conf.empty()) {
    script += fmt::format("export SLURM_CONF={}\n", ShellQuote(config.slurm_conf));
  }
  script += fmt::format("exec {} launch {}\n", ShellQuote(kiln_program.string()),
                        ShellQuote(dir.root().string()));
  return script;
}

}  // namespace kiln::compute
