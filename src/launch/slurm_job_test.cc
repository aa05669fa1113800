#include "launch/slurm_job.h"

#include <gtest/gtest.h>

#include "launch/node_address.h"
#include "launch/srun_command.h"

namespace kiln::launch {
namespace {

TEST(SlurmJobTest, ParsesScontrolsOneliner) {
  const SlurmJob job = ParseSlurmJob(
      "JobId=12 JobName=kiln-x UserId=root(0) JobState=PENDING Reason=Resources Dependency=(null) "
      "NodeList=(null) BatchHost=n1 ReqNodeList=n9 NumNodes=2\n");
  EXPECT_EQ(job.id, "12");
  EXPECT_EQ(job.state, "PENDING");
  EXPECT_EQ(job.reason, "Resources");
  EXPECT_EQ(job.nodes, "(null)");  // ReqNodeList= must not match NodeList=
  EXPECT_EQ(OnelinerField("PartitionName=debug TotalNodes=2 TotalCPUs=4", "TotalNodes"), "2");
  EXPECT_EQ(OnelinerField("PartitionName=debug", "TotalNodes"), "");
}

TEST(SlurmJobTest, SaysWhySlurmEndedAJob) {
  EXPECT_TRUE(IsSlurmStateActive("PENDING"));
  EXPECT_TRUE(IsSlurmStateActive("RUNNING"));
  EXPECT_FALSE(IsSlurmStateActive("NODE_FAIL"));
  EXPECT_FALSE(IsSlurmStateActive("COMPLETED"));
  EXPECT_EQ(*SlurmEndReason({"7", "NODE_FAIL", "None", "n[1-2]"}),
            "Slurm ended job 7 with NODE_FAIL: a node of its allocation (n[1-2]) failed");
  for (const char* state : {"TIMEOUT", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}) {
    EXPECT_TRUE(SlurmEndReason({"7", state, "", ""}).has_value()) << state;
  }
  EXPECT_FALSE(SlurmEndReason({"7", "CANCELLED", "", ""}).has_value());
  // What Slurm shows while it stops the job's processes.
  EXPECT_EQ(*SlurmEndReason({"7", "COMPLETING", "NodeDown", "n[1-2]"}),
            "Slurm ended job 7 with NODE_FAIL: a node of its allocation (n[1-2]) failed");
  EXPECT_FALSE(SlurmEndReason({"7", "COMPLETING", "None", ""}).has_value());
  EXPECT_FALSE(SlurmEndReason({"7", "RUNNING", "", ""}).has_value());
}

TEST(SlurmJobTest, SrunStartsTheLayoutOverTheAllocation) {
  const std::vector<std::string> argv =
      BuildSrunCommand({2, 3, spec::DistributedBackend::kGloo}, {"kiln", "exec-rank", "/r", "--"});
  const std::vector<std::string> expected = {"srun",
                                             "--nodes=2",
                                             "--ntasks=6",
                                             "--ntasks-per-node=3",
                                             "--kill-on-bad-exit=1",
                                             "--mpi=none",
                                             "--cpu-bind=none",
                                             "--export=ALL",
                                             "kiln",
                                             "exec-rank",
                                             "/r",
                                             "--"};
  EXPECT_EQ(argv, expected);
}

TEST(SlurmJobTest, ParsesTheQueueOfOneSqueue) {
  const auto jobs = ParseSlurmQueue(
      "12|PENDING|Resources|\n"
      "13|RUNNING|None|n[1-2]\n"
      "14|NODE_FAIL|NodeDown|n2\n"
      "not a job line\n"
      "\n");
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs.at("12").state, "PENDING");
  EXPECT_EQ(jobs.at("12").reason, "Resources");
  EXPECT_EQ(jobs.at("13").nodes, "n[1-2]");
  EXPECT_EQ(jobs.at("14").state, "NODE_FAIL");
  EXPECT_TRUE(SlurmEndReason(jobs.at("14")).has_value());
}

TEST(NodeAddressTest, FindsThisNodesAddressBySubnetOrInterface) {
  EXPECT_TRUE(IsSubnet("10.77.0.0/24"));
  EXPECT_FALSE(IsSubnet("10.77.0.0"));
  EXPECT_FALSE(IsSubnet("10.77.0.0/40"));
  EXPECT_EQ(AddressOnNetwork("127.0.0.0/8")->address, "127.0.0.1");
  EXPECT_EQ(AddressOnNetwork("127.0.0.1/32")->interface, "lo");
  EXPECT_EQ(AddressOnNetwork("lo")->address, "127.0.0.1");
  const Result<NodeAddress> none = AddressOnNetwork("no-such-interface0");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("127.0.0.1 (lo)"), std::string::npos)
      << none.status().message();
}

}  // namespace
}  // namespace kiln::launch
