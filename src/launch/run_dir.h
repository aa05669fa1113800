#pragma once

// RunDir: the layout of one run's directory, the contract between the launcher, the ranks
// and every reader (docs/run-directory.md):
//
//   runs/<run-id>/
//     plan.json        the resolved plan (run_plan.h)
//     launcher.lock    held (flock) for as long as a launcher owns the run
//     launcher.log     the launcher's own messages
//     src/             the materialized snapshot; the ranks' working directory
//     src/outputs ->   ../outputs, so a script's relative "outputs/" lands there
//     src/logs ->      ../script-logs, the same for "logs/" (TensorBoard's convention)
//     outputs/         the run's artifacts
//     script-logs/     what the script wrote under logs/, kept as artifacts "logs/..."
//     logs/rank-N.log  stdout and stderr of rank N, one timestamped line each
//     logs/rank-N.exit.json  how rank N ended, when mpirun started it
//     logs/mpirun.log  mpirun's own messages (distributed_backend mpi)
//     logs/environment.log  the build of the job's environment, or its reuse
//     metrics/         per-rank metric spools
//     data/            datastores in download mode

#include <filesystem>
#include <string>

#include "common/status.h"

namespace kiln::launch {

class RunDir {
 public:
  explicit RunDir(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path plan() const { return root_ / "plan.json"; }
  std::filesystem::path lock() const { return root_ / "launcher.lock"; }
  std::filesystem::path launcher_log() const { return root_ / "launcher.log"; }
  std::filesystem::path src() const { return root_ / "src"; }
  std::filesystem::path outputs() const { return root_ / "outputs"; }
  // The script's own logs folder (its "logs/"), apart from Kiln's logs/ of the ranks.
  std::filesystem::path script_logs() const { return root_ / "script-logs"; }
  std::filesystem::path logs() const { return root_ / "logs"; }
  std::filesystem::path rank_log(int rank) const {
    return logs() / ("rank-" + std::to_string(rank) + ".log");
  }
  // How rank N ended, when the rank shim ran it (under mpirun): rank_exit.h.
  std::filesystem::path rank_exit(int rank) const {
    return logs() / ("rank-" + std::to_string(rank) + ".exit.json");
  }
  // mpirun's own messages, for runs whose ranks it starts.
  std::filesystem::path mpirun_log() const { return logs() / "mpirun.log"; }
  std::filesystem::path srun_log() const { return logs() / "srun.log"; }
  // The job environment's build (or the line saying it was built already).
  std::filesystem::path environment_log() const { return logs() / "environment.log"; }
  std::filesystem::path metrics() const { return root_ / "metrics"; }
  std::filesystem::path data() const { return root_ / "data"; }

  // Creates the root and its empty subfolders (logs/, outputs/, script-logs/, metrics/).
  // AlreadyExists when the root exists: a run directory is made once.
  Status Create() const;

 private:
  std::filesystem::path root_;
};

}  // namespace kiln::launch
