#pragma once

// RunPlan: everything the launcher needs to run one job, resolved at submit and written to
// runs/<id>/plan.json (docs/run-directory.md). The launcher reads nothing else about the
// job, so a plan can be started on any machine that sees the run directory and the store.

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "data/resolver.h"
#include "env/environment_spec.h"
#include "launch/run_dir.h"
#include "launch/slot_queue.h"
#include "spec/job_spec.h"
#include "store/records.h"

namespace kiln::launch {

inline constexpr int kPlanVersion = 1;

struct RankLayout {
  int node_count = 1;
  int process_count_per_node = 1;
  spec::DistributedBackend backend = spec::DistributedBackend::kNone;

  int world_size() const { return node_count * process_count_per_node; }
};

// A run whose ranks spread over the nodes of a cluster allocation (docs/compute-targets.md).
struct ClusterPlan {
  std::string scheduler = "slurm";
  // The subnet or interface the ranks talk over; empty lets Open MPI and the host name
  // decide.
  std::string network;
  std::string slurm_conf;  // SLURM_CONF for Slurm's commands; empty: Slurm's default
};

// The Python environment the ranks run in, built (or found built) while Preparing
// (env/environment_cache.h). The command's interpreter is already its bin/python.
struct EnvironmentPlan {
  env::EnvironmentSpec definition;
  std::string hash;
  std::filesystem::path cache_root;  // envs/, beside the target's run directories
};

// A sweep trial's rank started before its turn (docs/sweeps.md, "Warm start"): while the
// launcher waits for slots, the rank's interpreter starts under kiln/_warm_start.py and
// imports `preload` ("auto": the script's own top-level imports), then runs the script when
// the launcher lets it. Only for one rank of a .py entry on the local target.
struct WarmStartPlan {
  std::string preload = "auto";  // "auto" or module names, comma-separated
};

struct RunPlan {
  std::string run_id;
  std::string experiment;
  // Written to plan.json with its credentials redacted; the launcher gets the real URL,
  // and a Kiln server's run token, in its environment (store_access.h).
  std::string store_url;
  std::string store_ca_file;  // a Kiln server over https: the CA file to trust
  std::filesystem::path snapshot_store;
  std::string snapshot_id;
  // The submitting side has materialized the snapshot into src/ already (a cluster's nodes
  // need not see the snapshot store).
  bool source_staged = false;
  // What each rank executes, run in src/. argv[0] is an absolute path.
  std::vector<std::string> command;
  // The job's environment_variables, applied before Kiln's own (rank_env.h).
  std::vector<std::pair<std::string, std::string>> environment;
  std::vector<data::DataBinding> data;
  RankLayout ranks;
  std::optional<std::int64_t> max_run_duration_seconds;
  bool use_gpu = false;
  std::optional<ClusterPlan> cluster;  // ranks on the nodes of a cluster allocation
  std::optional<EnvironmentPlan> python_environment;
  // The local target's queue: the launcher waits there for its slots before Preparing.
  std::optional<SlotRequest> slots;
  std::optional<WarmStartPlan> warm_start;
  nlohmann::json spec;  // the JobSpec's JSON form, for reference
};

// The store URL goes out with its credentials redacted (common/redact.h).
nlohmann::json PlanToJson(const RunPlan& plan);
// DataLoss for a plan this version cannot read.
Result<RunPlan> PlanFromJson(const nlohmann::json& json);

// Writes plan.json atomically, created with mode 0600 (never readable by others, not even
// for a moment).
Status WritePlan(const RunDir& dir, const RunPlan& plan);
Result<RunPlan> ReadPlan(const RunDir& dir);

// The command for the job's entry script: [interpreter, script, args...] for a .py script,
// [<src>/program, args...] otherwise. Each parameter becomes its name, then its resolved
// value when it has one.
std::vector<std::string> BuildCommand(const spec::JobSpec& spec,
                                      const std::vector<store::RunParam>& params,
                                      const std::string& interpreter,
                                      const std::filesystem::path& src_dir);

}  // namespace kiln::launch
