#include "launch/rank_starts.h"

#include <fmt/format.h>

#include "common/subprocess.h"
#include "launch/gpus.h"
#include "launch/mpirun_command.h"
#include "launch/srun_command.h"

namespace kiln::launch {
namespace {

bool UnderMpirun(const RunPlan& plan) {
  return plan.ranks.backend == spec::DistributedBackend::kMpi;
}

// The rank shim's command: `kiln exec-rank RUN_DIR -- COMMAND...`.
std::vector<std::string> ShimCommand(const RankStartInputs& in) {
  std::vector<std::string> argv = {in.kiln_program.string(), "exec-rank", in.dir->root().string(),
                                   "--"};
  argv.insert(argv.end(), in.plan->command.begin(), in.plan->command.end());
  return argv;
}

// The environment every rank shares; the shim adds what differs from rank to rank.
std::vector<std::string> SharedRankEnvironment(const RankStartInputs& in) {
  const RunPlan& plan = *in.plan;
  const RankIdentity shared{0, 0, 0, plan.ranks.world_size(), plan.ranks.process_count_per_node,
                            ""};
  std::vector<std::string> env = BuildRankEnvironment(in.base_env, plan, *in.dir, shared,
                                                      in.rendezvous, {in.python_path.string()});
  std::erase_if(env, [&](const std::string& entry) {
    const std::string name = entry.substr(0, entry.find('='));
    for (const auto& [rank_name, value] : RankVariables(shared)) {
      if (name == rank_name) return true;
    }
    return false;
  });
  return env;
}

// Open MPI's transports kept to the cluster's network (unless the job set them itself).
void AddClusterMpiSettings(const RunPlan& plan, std::vector<std::string>& env) {
  if (!plan.cluster || plan.cluster->network.empty()) return;
  for (const char* name : {"OMPI_MCA_btl_tcp_if_include", "OMPI_MCA_oob_tcp_if_include"}) {
    if (!FindVariable(env, name)) env.push_back(fmt::format("{}={}", name, plan.cluster->network));
  }
  if (!FindVariable(env, "OMPI_MCA_btl")) env.push_back("OMPI_MCA_btl=self,vader,tcp");
}

void AddShimStoreAccess(const StoreAccess& access, std::vector<std::string>& env) {
  for (std::string& variable : StoreAccessVariables(access)) env.push_back(std::move(variable));
}

ProcessStart Mpirun(const RankStartInputs& in) {
  const RunPlan& plan = *in.plan;
  std::vector<std::string> env = SharedRankEnvironment(in);
  AddClusterMpiSettings(plan, env);
  MpirunOptions mpirun;
  mpirun.layout = plan.ranks;
  mpirun.run_as_root = in.as_root;
  mpirun.cores = in.cores;
  mpirun.working_dir = in.dir->src();
  mpirun.exported = ExportedVariables(in.base_env, env);
  if (plan.cluster) {
    AddShimStoreAccess(*in.access, env);
    for (const std::string_view name : {kStoreUrlVariable, kStoreTokenVariable}) {
      if (FindVariable(env, name)) mpirun.exported.emplace_back(name);
    }
  }
  mpirun.rank_command = ShimCommand(in);
  return {"mpirun", in.dir->mpirun_log(), BuildMpirunCommand(mpirun), std::move(env)};
}

ProcessStart Srun(const RankStartInputs& in) {
  std::vector<std::string> env = SharedRankEnvironment(in);
  AddShimStoreAccess(*in.access, env);
  return {"srun", in.dir->srun_log(), BuildSrunCommand(in.plan->ranks, ShimCommand(in)),
          std::move(env)};
}

std::vector<ProcessStart> LocalRanks(const RankStartInputs& in) {
  const RunPlan& plan = *in.plan;
  const int local_ranks = plan.ranks.process_count_per_node;
  std::vector<ProcessStart> starts;
  for (int local = 0; local < local_ranks; ++local) {
    const RankIdentity identity{
        local, local, 0, plan.ranks.world_size(), local_ranks, GpuForLocalRank(in.gpus, local)};
    starts.push_back({fmt::format("rank {}", local), in.dir->rank_log(local), plan.command,
                      BuildRankEnvironment(in.base_env, plan, *in.dir, identity, in.rendezvous,
                                           {in.python_path.string()})});
  }
  return starts;
}

}  // namespace

bool RanksUnderShim(const RunPlan& plan) { return UnderMpirun(plan) || plan.cluster.has_value(); }

std::vector<ProcessStart> PlanRankStarts(const RankStartInputs& inputs) {
  if (UnderMpirun(*inputs.plan)) return {Mpirun(inputs)};
  if (inputs.plan->cluster) return {Srun(inputs)};
  return LocalRanks(inputs);
}

}  // namespace kiln::launch
