#include "launch/mpirun_command.h"

#include <gtest/gtest.h>

namespace kiln::launch {
namespace {

TEST(MpirunCommandTest, FlagsForOneNode) {
  MpirunOptions options;
  options.layout = {1, 4, spec::DistributedBackend::kMpi};
  options.run_as_root = true;
  options.cores = 2;
  options.working_dir = "/runs/r/src";
  options.exported = {"KILN_RUN_ID", "MASTER_PORT"};
  options.rank_command = {"/bin/kiln", "exec-rank", "/runs/r", "--", "python3", "train.py"};
  EXPECT_EQ(BuildMpirunCommand(options), (std::vector<std::string>{"mpirun",
                                                                   "--allow-run-as-root",
                                                                   "-np",
                                                                   "4",
                                                                   "--map-by",
                                                                   "ppr:4:node",
                                                                   "--oversubscribe",
                                                                   "--bind-to",
                                                                   "none",
                                                                   "--tag-output",
                                                                   "-wdir",
                                                                   "/runs/r/src",
                                                                   "-x",
                                                                   "KILN_RUN_ID",
                                                                   "-x",
                                                                   "MASTER_PORT",
                                                                   "/bin/kiln",
                                                                   "exec-rank",
                                                                   "/runs/r",
                                                                   "--",
                                                                   "python3",
                                                                   "train.py"}));
}

TEST(MpirunCommandTest, NoRootFlagOrOversubscriptionWhenNotNeeded) {
  MpirunOptions options;
  options.layout = {2, 2, spec::DistributedBackend::kMpi};
  options.cores = 2;
  options.rank_command = {"prog"};
  EXPECT_EQ(BuildMpirunCommand(options),
            (std::vector<std::string>{"mpirun", "-np", "4", "--map-by", "ppr:2:node", "--bind-to",
                                      "none", "--tag-output", "prog"}));
}

TEST(MpirunCommandTest, ExportsWhatDiffersFromTheBase) {
  EXPECT_EQ(ExportedVariables({"PATH=/usr/bin", "HOME=/root"},
                              {"HOME=/job", "KILN_RUN_ID=r", "PATH=/usr/bin"}),
            (std::vector<std::string>{"HOME", "KILN_RUN_ID"}));
}

}  // namespace
}  // namespace kiln::launch
