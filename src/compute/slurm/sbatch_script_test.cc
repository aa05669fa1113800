#include "compute/slurm/sbatch_script.h"

#include <gtest/gtest.h>

namespace kiln::compute {
namespace {

launch::RunPlan TwoByTwo() {
  launch::RunPlan plan;
  plan.run_id = "fm-20261201-101500-a1b2";
  plan.ranks = {2, 2, spec::DistributedBackend::kGloo};
  return plan;
}

TEST(SbatchScriptTest, AsksForTheRunsNodesAndTasksAndStartsTheLauncher) {
  SlurmConfig config{"debug", 4, "/shared/runs", "", ""};
  const launch::RunDir dir("/shared/runs/fm-20261201-101500-a1b2");
  const std::string script = SbatchScript(config, TwoByTwo(), dir, "/opt/kiln/kiln");
  EXPECT_TRUE(script.starts_with("#!/bin/sh\n"));
  for (const char* line :
       {"#SBATCH --job-name=kiln-fm-20261201-101500-a1b2\n", "#SBATCH --partition=debug\n",
        "#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=2\n",
        "#SBATCH --output=/shared/runs/fm-20261201-101500-a1b2/launcher.log\n",
        "#SBATCH --no-requeue\n",
        "exec /opt/kiln/kiln launch /shared/runs/fm-20261201-101500-a1b2\n"}) {
    EXPECT_NE(script.find(line), std::string::npos) << line << " in\n" << script;
  }
  EXPECT_EQ(script.find("SLURM_CONF"), std::string::npos);
  EXPECT_EQ(script.find("--gpus-per-node"), std::string::npos);
}

TEST(SbatchScriptTest, ExportsSlurmConfAndAsksForGpus) {
  SlurmConfig config{"gpu", 4, "/shared/runs", "/etc/slurm/other's.conf", ""};
  launch::RunPlan plan = TwoByTwo();
  plan.use_gpu = true;
  const std::string script = SbatchScript(config, plan, launch::RunDir("/r"), "/k");
  EXPECT_NE(script.find("export SLURM_CONF='/etc/slurm/other'\\''s.conf'\n"), std::string::npos)
      << script;
  EXPECT_NE(script.find("#SBATCH --gpus-per-node=2\n"), std::string::npos);
}

}  // namespace
}  // namespace kiln::compute
