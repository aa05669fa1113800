#include "launch/rank_env.h"

#include <algorithm>
#include <map>

namespace kiln::launch {

namespace {
constexpr std::string_view kRunScoped[] = {
    "RANK",         "WORLD_SIZE",  "LOCAL_RANK",      "LOCAL_WORLD_SIZE",
    "NODE_RANK",    "MASTER_ADDR", "MASTER_PORT",     "KILN_RUN_ID",
    "KILN_RUN_DIR", "KILN_RANK",   "KILN_EXPERIMENT", "KILN_OUTPUTS_DIR"};
}  // namespace

std::string RunMarker(std::string_view run_id) { return "KILN_RUN_ID=" + std::string(run_id); }

bool IsRunScopedVariable(std::string_view name) {
  return std::find(std::begin(kRunScoped), std::end(kRunScoped), name) != std::end(kRunScoped);
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
    if (!IsRunScopedVariable(name)) env[name] = entry.substr(equals + 1);
  }
  for (const auto& [name, value] : plan.environment) env[name] = value;
  env["RANK"] = std::to_string(identity.rank);
  env["WORLD_SIZE"] = std::to_string(identity.world_size);
  env["LOCAL_RANK"] = std::to_string(identity.local_rank);
  env["LOCAL_WORLD_SIZE"] = std::to_string(identity.local_world_size);
  env["NODE_RANK"] = std::to_string(identity.node_rank);
  env["MASTER_ADDR"] = rendezvous.master_addr;
  env["MASTER_PORT"] = std::to_string(rendezvous.master_port);
  env["KILN_RUN_ID"] = plan.run_id;
  env["KILN_RUN_DIR"] = dir.root().string();
  env["KILN_RANK"] = std::to_string(identity.rank);
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
