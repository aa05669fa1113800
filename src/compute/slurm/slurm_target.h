#pragma once

// SlurmTarget: runs on a Slurm cluster. Submit writes the run's batch script
// (sbatch_script.h) and queues it with sbatch; the job's id is kept in the run directory
// (slurm.json). The launcher then runs inside the allocation and starts the ranks over its
// nodes with mpirun (mpi) or srun (gloo, nccl). What Slurm says of the job is the run's
// target detail while it waits (PENDING and Slurm's reason); a job that Slurm ended or
// forgot while its launcher was not there to record it ends the run Failed with Slurm's
// reason (TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, PREEMPTED, or vanished). Cancel is scancel.

#include <filesystem>
#include <optional>
#include <string>

#include "compute/compute_target.h"
#include "compute/slurm/slurm_config.h"

namespace kiln::compute {

class SlurmTarget : public ComputeTarget {
 public:
  static constexpr std::string_view kType = "slurm";

  SlurmTarget(std::string name, SlurmConfig config, std::filesystem::path kiln_program);

  std::string_view name() const override { return name_; }
  Status Admit(const spec::JobSpec& spec, const spec::SpecSource& source) const override;
  std::filesystem::path RunsRoot(const std::filesystem::path&) const override {
    return config_.runs_root;
  }
  std::optional<launch::ClusterPlan> Cluster() const override;
  Status Submit(const launch::RunDir& dir, launch::LauncherLock lock,
                const launch::StoreAccess& access) override;
  Result<Probe> Check(const store::Run& run) const override;
  // One squeue for all of `runs` (scontrol per run would cost a call per run per read).
  std::vector<Result<Probe>> CheckAll(const std::vector<store::Run>& runs) const override;
  Status Cancel(const store::Run& run) override;
  Result<std::string> StopRemains(const store::Run& run) override;

  // The partition's node count, from Slurm. NotFound for a partition Slurm does not have.
  Result<int> PartitionNodes() const;

 private:
  std::string name_;
  SlurmConfig config_;
  std::filesystem::path kiln_program_;
};

// The Slurm job id recorded for a run; nullopt when none was (never submitted).
std::optional<std::string> SlurmJobOfRun(const launch::RunDir& dir);

}  // namespace kiln::compute
