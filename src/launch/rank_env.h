#pragma once

// The environment each rank starts with (docs/run-directory.md), built in three layers:
//   1. the variables of the launcher's own environment that the allow-list names
//      (IsInheritedVariable), without those that describe some other run: nothing else of
//      the submitter's environment (KILN_STORE, KILN_TOKEN, PG*, cloud keys) reaches a job;
//   2. the job's environment_variables;
//   3. Kiln's variables: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK,
//      MASTER_ADDR, MASTER_PORT (torch.distributed env://), KILN_RUN_ID, KILN_RUN_DIR,
//      KILN_RANK, KILN_EXPERIMENT, KILN_OUTPUTS_DIR, PYTHONUNBUFFERED=1 so Python's
//      output reaches the log as it is written, and Kiln's Python package first on
//      PYTHONPATH so `import kiln` works without installing anything.
// A later layer wins over an earlier one.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"

namespace kiln::launch {

struct RankIdentity {
  int rank = 0;
  int local_rank = 0;
  int node_rank = 0;
  int world_size = 1;
  int local_world_size = 1;
  std::string gpu;  // CUDA_VISIBLE_DEVICES of the rank; empty leaves it as it is
};

// The variables that differ from rank to rank: RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, NODE_RANK, KILN_RANK, and CUDA_VISIBLE_DEVICES when `gpu` is set.
std::vector<std::pair<std::string, std::string>> RankVariables(const RankIdentity& identity);

// A rank's identity from the variables Open MPI gives each process it starts
// (OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE), in "NAME=value" form. Ranks are
// placed node by node (mpirun --map-by ppr:N:node), so the node is rank / local size.
Result<RankIdentity> RankIdentityFromOpenMpi(const std::vector<std::string>& env);

// A rank's identity from the variables srun gives each task (SLURM_PROCID, SLURM_NTASKS,
// SLURM_LOCALID, SLURM_NODEID); `per_node` tasks run on each node.
Result<RankIdentity> RankIdentityFromSlurm(const std::vector<std::string>& env, int per_node);

// Open MPI's identity when mpirun started the process, else srun's.
Result<RankIdentity> RankIdentityOfProcess(const std::vector<std::string>& env, int per_node);

struct Rendezvous {
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
};

// Where ranks find things Kiln provides.
struct RankPaths {
  std::string python_path;  // prepended to PYTHONPATH when set
};

// The variable every process of a run carries, "KILN_RUN_ID=<id>"; it finds them.
std::string RunMarker(std::string_view run_id);

std::vector<std::string> BuildRankEnvironment(const std::vector<std::string>& base,
                                              const RunPlan& plan, const RunDir& dir,
                                              const RankIdentity& identity,
                                              const Rendezvous& rendezvous,
                                              const RankPaths& paths = {});

// Variables that describe one run and must not leak into another (a launcher started from
// inside a job, a rank's environment), the launcher's store access (store_access.h) among
// them.
bool IsRunScopedVariable(std::string_view name);

// The allow-list: whether a rank inherits the launcher's variable `name`. The names in
// kInheritedVariables, and those starting with a prefix in kInheritedPrefixes; SLURM_*
// only `in_allocation` (a cluster run, whose ranks run inside the Slurm job).
inline constexpr std::string_view kInheritedVariables[] = {
    // The session: who and where.
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
    // Libraries and Python: a job environment's interpreter, CUDA and conda libraries.
    "LD_LIBRARY_PATH", "PYTHONPATH",
    // GPUs given to the launcher (a rank gets its own CUDA_VISIBLE_DEVICES with use_gpu).
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NVIDIA_VISIBLE_DEVICES",
    // A relocated Open MPI.
    "OPAL_PREFIX",
    // Libraries preloaded into every process (an allocator such as jemalloc, a sanitizer's
    // runtime) and the sanitizers' settings.
    "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
inline constexpr std::string_view kInheritedPrefixes[] = {
    "LC_",    // locale
    "OMPI_",  // Open MPI's settings (OMPI_MCA_*, OMPI_ALLOW_RUN_AS_ROOT*) and identity
    "PMIX_",  // the process manager under mpirun
};
bool IsInheritedVariable(std::string_view name, bool in_allocation);

}  // namespace kiln::launch
