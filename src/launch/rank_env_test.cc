#include "launch/rank_env.h"

#include <gtest/gtest.h>

namespace kiln::launch {
namespace {

TEST(RankEnvTest, LayersAndOverrides) {
  RunPlan plan;
  plan.run_id = "exp_1_abc";
  plan.experiment = "exp";
  plan.environment = {{"OMP_NUM_THREADS", "2"}, {"HOME", "/job/home"}};
  const RunDir dir("/runs/exp_1_abc");
  const std::vector<std::string> base = {"PATH=/usr/bin", "HOME=/root", "RANK=7",
                                         "KILN_RUN_ID=parent", "KILN_HOME=/k"};
  const std::vector<std::string> env =
      BuildRankEnvironment(base, plan, dir, {1, 1, 0, 2, 2, ""}, {"10.0.0.1", 29500});
  const auto has = [&](const std::string& entry) {
    return std::find(env.begin(), env.end(), entry) != env.end();
  };
  EXPECT_TRUE(has("PATH=/usr/bin"));
  EXPECT_FALSE(has("KILN_HOME=/k"));  // not on the allow-list
  EXPECT_TRUE(has("HOME=/job/home"));
  EXPECT_TRUE(has("OMP_NUM_THREADS=2"));
  EXPECT_TRUE(has("RANK=1"));
  EXPECT_TRUE(has("WORLD_SIZE=2"));
  EXPECT_TRUE(has("LOCAL_WORLD_SIZE=2"));
  EXPECT_TRUE(has("MASTER_ADDR=10.0.0.1"));
  EXPECT_TRUE(has("MASTER_PORT=29500"));
  EXPECT_TRUE(has("KILN_RUN_ID=exp_1_abc"));
  EXPECT_TRUE(has("KILN_RUN_DIR=/runs/exp_1_abc"));
  EXPECT_TRUE(has("KILN_OUTPUTS_DIR=/runs/exp_1_abc/outputs"));
  EXPECT_FALSE(has("RANK=7"));
  EXPECT_FALSE(has("KILN_RUN_ID=parent"));
  EXPECT_TRUE(std::is_sorted(env.begin(), env.end()));
}

// Only the allow-list of the launcher's environment reaches a rank: never the submitter's
// store, tokens or database passwords, nor the launcher's own store access.
TEST(RankEnvTest, OnlyTheAllowListIsInherited) {
  RunPlan plan;
  plan.run_id = "r";
  plan.environment = {{"JOB_SECRET_IS_THE_JOBS", "mine"}};
  const std::vector<std::string> base = {
      "PATH=/usr/bin",
      "HOME=/home/u",
      "LANG=C.UTF-8",
      "LC_ALL=C.UTF-8",
      "TZ=UTC",
      "TMPDIR=/tmp",
      "USER=u",
      "LOGNAME=u",
      "SHELL=/bin/bash",
      "LD_LIBRARY_PATH=/opt/cuda/lib",
      "CUDA_VISIBLE_DEVICES=0,1",
      "OMPI_MCA_btl=self,tcp",
      "PMIX_RANK=0",
      "KILN_STORE=postgresql://u:secret@h/db",
      "KILN_TOKEN=kiln_tok_secret",
      "KILN_SERVER=http://s:8470",
      "KILN_CA_CERT=/ca.pem",
      "KILN_RUN_STORE=http://s:8470",
      "KILN_RUN_TOKEN=kiln_run_secret",
      "PGPASSWORD=secret",
      "PGUSER=u",
      "PGHOST=h",
      "AWS_SECRET_ACCESS_KEY=secret",
      "SLURM_JOB_ID=12",
      "SOMETHING_ELSE=x",
  };
  const std::vector<std::string> env =
      BuildRankEnvironment(base, plan, RunDir("/runs/r"), {0, 0, 0, 1, 1, ""}, {});
  std::vector<std::string> names;
  for (const std::string& entry : env) names.push_back(entry.substr(0, entry.find('=')));
  for (const char* kept : {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME",
                           "SHELL", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "OMPI_MCA_btl",
                           "PMIX_RANK", "JOB_SECRET_IS_THE_JOBS"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), kept), names.end()) << kept;
  }
  for (const char* dropped : {"KILN_STORE", "KILN_TOKEN", "KILN_SERVER", "KILN_CA_CERT",
                              "KILN_RUN_STORE", "KILN_RUN_TOKEN", "PGPASSWORD", "PGUSER", "PGHOST",
                              "AWS_SECRET_ACCESS_KEY", "SLURM_JOB_ID", "SOMETHING_ELSE"}) {
    EXPECT_EQ(std::find(names.begin(), names.end(), dropped), names.end()) << dropped;
  }
  for (const std::string& entry : env) {
    EXPECT_EQ(entry.find("secret"), std::string::npos) << entry;
  }

  // Inside a Slurm allocation the job's SLURM_* variables are the ranks' too.
  plan.cluster = ClusterPlan{};
  const std::vector<std::string> in_allocation =
      BuildRankEnvironment(base, plan, RunDir("/runs/r"), {0, 0, 0, 1, 1, ""}, {});
  EXPECT_NE(std::find(in_allocation.begin(), in_allocation.end(), "SLURM_JOB_ID=12"),
            in_allocation.end());
}

TEST(RankEnvTest, GpuGoesIntoCudaVisibleDevices) {
  RankIdentity identity{3, 1, 1, 4, 2, ""};
  EXPECT_EQ(RankVariables(identity).size(), 6u);
  identity.gpu = "5";
  const auto variables = RankVariables(identity);
  EXPECT_EQ(variables.back(),
            std::make_pair(std::string("CUDA_VISIBLE_DEVICES"), std::string("5")));
}

TEST(RankEnvTest, IdentityFromOpenMpi) {
  const Result<RankIdentity> identity = RankIdentityFromOpenMpi(
      {"OMPI_COMM_WORLD_RANK=3", "OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_LOCAL_RANK=1",
       "OMPI_COMM_WORLD_LOCAL_SIZE=2", "OMPI_COMM_WORLD_NODE_RANK=1"});
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->rank, 3);
  EXPECT_EQ(identity->world_size, 4);
  EXPECT_EQ(identity->local_rank, 1);
  EXPECT_EQ(identity->local_world_size, 2);
  EXPECT_EQ(identity->node_rank, 1);

  const Result<RankIdentity> outside = RankIdentityFromOpenMpi({"PATH=/usr/bin"});
  EXPECT_EQ(outside.status().code(), StatusCode::kNotFound);
  EXPECT_NE(outside.status().message().find("OMPI_COMM_WORLD_RANK is not set"), std::string::npos);
  const Result<RankIdentity> garbled =
      RankIdentityFromOpenMpi({"OMPI_COMM_WORLD_RANK=x", "OMPI_COMM_WORLD_SIZE=4",
                               "OMPI_COMM_WORLD_LOCAL_RANK=1", "OMPI_COMM_WORLD_LOCAL_SIZE=2"});
  EXPECT_EQ(garbled.status().message(), "OMPI_COMM_WORLD_RANK='x' is not a rank number");
}

TEST(RankEnvTest, MarkerNamesTheRun) {
  EXPECT_EQ(RunMarker("r1"), "KILN_RUN_ID=r1");
  EXPECT_TRUE(IsRunScopedVariable("MASTER_PORT"));
  EXPECT_FALSE(IsRunScopedVariable("KILN_HOME"));
  EXPECT_TRUE(IsRunScopedVariable("OMPI_COMM_WORLD_RANK"));
  EXPECT_FALSE(IsRunScopedVariable("OMPI_MCA_btl"));
}

TEST(RankEnvTest, IdentityFromSrun) {
  const std::vector<std::string> env = {"SLURM_PROCID=3", "SLURM_NTASKS=4", "SLURM_LOCALID=1",
                                        "SLURM_NODEID=1"};
  const Result<RankIdentity> identity = RankIdentityOfProcess(env, 2);
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->rank, 3);
  EXPECT_EQ(identity->world_size, 4);
  EXPECT_EQ(identity->local_rank, 1);
  EXPECT_EQ(identity->local_world_size, 2);
  EXPECT_EQ(identity->node_rank, 1);
  EXPECT_FALSE(RankIdentityFromSlurm(
                   {"SLURM_PROCID=5", "SLURM_NTASKS=4", "SLURM_LOCALID=1", "SLURM_NODEID=1"}, 2)
                   .ok());
  // Open MPI's identity wins inside an allocation, where both are set.
  std::vector<std::string> both = env;
  both.insert(both.end(), {"OMPI_COMM_WORLD_RANK=0", "OMPI_COMM_WORLD_SIZE=4",
                           "OMPI_COMM_WORLD_LOCAL_RANK=0", "OMPI_COMM_WORLD_LOCAL_SIZE=2"});
  EXPECT_EQ(RankIdentityOfProcess(both, 2)->rank, 0);
}

}  // namespace
}  // namespace kiln::launch
