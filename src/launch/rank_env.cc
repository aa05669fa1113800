#include "launch/rank_env.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>

#include "common/strings.h"
#include "common/subprocess.h"
#include "launch/store_access.h"

namespace kiln::launch {

namespace {
constexpr std::string_view kRunScoped[] = {"RANK",
                                           "WORLD_SIZE",
                                           "LOCAL_RANK",
                                           "LOCAL_WORLD_SIZE",
                                           "NODE_RANK",
                                           "MASTER_ADDR",
                                           "MASTER_PORT",
                                           "KILN_RUN_ID",
                                           "KILN_RUN_DIR",
                                           "KILN_RANK",
                                           "KILN_EXPERIMENT",
                                           "KILN_OUTPUTS_DIR",
                                           kStoreUrlVariable,
                                           kStoreTokenVariable};
}  // namespace

std::string RunMarker(std::string_view run_id) { return "KILN_RUN_ID=" + std::string(run_id); }

std::vector<std::pair<std::string, std::string>> RankVariables(const RankIdentity& identity) {
  std::vector<std::pair<std::string, std::string>> variables = {
      {"RANK", std::to_string(identity.rank)},
      {"WORLD_SIZE", std::to_string(identity.world_size)},
      {"LOCAL_RANK", std::to_string(identity.local_rank)},
      {"LOCAL_WORLD_SIZE", std::to_string(identity.local_world_size)},
      {"NODE_RANK", std::to_string(identity.node_rank)},
      {"KILN_RANK", std::to_string(identity.rank)},
  };
  if (!identity.gpu.empty()) variables.emplace_back("CUDA_VISIBLE_DEVICES", identity.gpu);
  return variables;
}

namespace {

Result<int> ReadRankNumber(const std::vector<std::string>& env, std::string_view name,
                           std::string_view starter) {
  const std::optional<std::string_view> text = FindVariable(env, name);
  if (!text) {
    return NotFoundError(fmt::format(
        "{} is not set: the rank shim runs under {}, which sets it for every rank", name, starter));
  }
  const std::optional<std::int64_t> value = ParseInt64(*text);
  if (!value || *value < 0 || *value > std::numeric_limits<int>::max()) {
    return InvalidArgumentError(fmt::format("{}='{}' is not a rank number", name, *text));
  }
  return static_cast<int>(*value);
}

}  // namespace

Result<RankIdentity> RankIdentityFromSlurm(const std::vector<std::string>& env, int per_node) {
  const auto read = [&env](std::string_view name) { return ReadRankNumber(env, name, "srun"); };
  RankIdentity identity;
  KILN_ASSIGN_OR_RETURN(identity.rank, read("SLURM_PROCID"));
  KILN_ASSIGN_OR_RETURN(identity.world_size, read("SLURM_NTASKS"));
  KILN_ASSIGN_OR_RETURN(identity.local_rank, read("SLURM_LOCALID"));
  KILN_ASSIGN_OR_RETURN(identity.node_rank, read("SLURM_NODEID"));
  identity.local_world_size = per_node;
  if (per_node <= 0 || identity.rank >= identity.world_size || identity.local_rank >= per_node) {
    return InvalidArgumentError(fmt::format("srun gave task {} of {} (local {}) with {} per node",
                                            identity.rank, identity.world_size, identity.local_rank,
                                            per_node));
  }
  return identity;
}

Result<RankIdentity> RankIdentityOfProcess(const std::vector<std::string>& env, int per_node) {
  if (FindVariable(env, "OMPI_COMM_WORLD_RANK") || !FindVariable(env, "SLURM_PROCID")) {
    return RankIdentityFromOpenMpi(env);
  }
  return RankIdentityFromSlurm(env, per_node);
}

Result<RankIdentity> RankIdentityFromOpenMpi(const std::vector<std::string>& env) {
  const auto read = [&env](std::string_view name) { return ReadRankNumber(env, name, "mpirun"); };
  RankIdentity identity;
  KILN_ASSIGN_OR_RETURN(identity.rank, read("OMPI_COMM_WORLD_RANK"));
  KILN_ASSIGN_OR_RETURN(identity.world_size, read("OMPI_COMM_WORLD_SIZE"));
  KILN_ASSIGN_OR_RETURN(identity.local_rank, read("OMPI_COMM_WORLD_LOCAL_RANK"));
  KILN_ASSIGN_OR_RETURN(identity.local_world_size, read("OMPI_COMM_WORLD_LOCAL_SIZE"));
  if (identity.local_world_size == 0 || identity.rank >= identity.world_size) {
    return InvalidArgumentError(fmt::format("Open MPI gave rank {} of {} with {} per node",
                                            identity.rank, identity.world_size,
                                            identity.local_world_size));
  }
  identity.node_rank = identity.rank / identity.local_world_size;
  return identity;
}

bool IsRunScopedVariable(std::string_view name) {
  // A rank's Open MPI identity must not reach a run started from inside it.
  if (name.starts_with("OMPI_COMM_WORLD_")) return true;
  return std::find(std::begin(kRunScoped), std::end(kRunScoped), name) != std::end(kRunScoped);
}

bool IsInheritedVariable(std::string_view name, bool in_allocation) {
  if (in_allocation && name.starts_with("SLURM_")) return true;
  for (std::string_view prefix : kInheritedPrefixes) {
    if (name.starts_with(prefix)) return true;
  }
  return std::find(std::begin(kInheritedVariables), std::end(kInheritedVariables), name) !=
         std::end(kInheritedVariables);
}

std::vector<std::string> BuildRankEnvironment(const std::vector<std::string>& base,
                                              const RunPlan& plan, const RunDir& dir,
                                              const RankIdentity& identity,
                                              const Rendezvous& rendezvous,
                                              const RankPaths& paths) {
  // Ordered by name, so a rank's environment is the same on every start.
  std::map<std::string, std::string> env;
  for (const std::string& entry : base) {
    const std::size_t equals = entry.find('=');
    if (equals == std::string::npos) continue;
    const std::string name = entry.substr(0, equals);
    if (IsInheritedVariable(name, plan.cluster.has_value()) && !IsRunScopedVariable(name)) {
      env[name] = entry.substr(equals + 1);
    }
  }
  for (const auto& [name, value] : plan.environment) env[name] = value;
  for (auto& [name, value] : RankVariables(identity)) env[name] = std::move(value);
  env["MASTER_ADDR"] = rendezvous.master_addr;
  env["MASTER_PORT"] = std::to_string(rendezvous.master_port);
  env["KILN_RUN_ID"] = plan.run_id;
  env["KILN_RUN_DIR"] = dir.root().string();
  env["KILN_EXPERIMENT"] = plan.experiment;
  env["KILN_OUTPUTS_DIR"] = dir.outputs().string();
  env["PYTHONUNBUFFERED"] = "1";
  if (!paths.python_path.empty()) {
    const auto existing = env.find("PYTHONPATH");
    env["PYTHONPATH"] = existing == env.end() || existing->second.empty()
                            ? paths.python_path
                            : paths.python_path + ":" + existing->second;
  }
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

}  // namespace kiln::launch
