#include "compute/slurm/slurm_config.h"

#include <gtest/gtest.h>

#include "common/test_dir.h"

namespace kiln::compute {
namespace {

using nlohmann::json;

TEST(SlurmConfigTest, RoundTripsThroughJson) {
  const SlurmConfig config{"debug", 2, "/shared/runs", "/etc/slurm/slurm.conf", "10.0.0.0/24"};
  const Result<SlurmConfig> back = SlurmConfigFromJson(SlurmConfigToJson(config));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->partition, "debug");
  EXPECT_EQ(back->max_nodes, 2);
  EXPECT_EQ(back->runs_root, "/shared/runs");
  EXPECT_EQ(back->slurm_conf, "/etc/slurm/slurm.conf");
  EXPECT_EQ(back->network, "10.0.0.0/24");
}

TEST(SlurmConfigTest, NamesTheFlagThatIsMissingOrWrong) {
  const auto message = [](const json& config) {
    return SlurmConfigFromJson(config).status().message();
  };
  EXPECT_EQ(message({{"max_nodes", 2}, {"runs_root", "/r"}}), "--partition: is required");
  EXPECT_EQ(message({{"partition", "p"}, {"max_nodes", 2}}), "--runs-root: is required");
  EXPECT_NE(message({{"partition", "p"}, {"runs_root", "/r"}}).find("--max-nodes"),
            std::string::npos);
  EXPECT_EQ(message({{"partition", "p"}, {"runs_root", "/r"}, {"max_nodes", 0}}),
            "--max-nodes: must be between 1 and 100000, got 0");
}

TEST(SlurmConfigTest, ChecksPathsAndNetwork) {
  TestDir dir;
  SlurmConfig config{"debug", 1, "relative/runs", "", ""};
  EXPECT_NE(CheckSlurmConfig(config).message().find(
                "--runs-root: 'relative/runs' must be an absolute path"),
            std::string::npos);
  config.runs_root = dir.path() / "runs";
  EXPECT_TRUE(CheckSlurmConfig(config).ok());
  EXPECT_TRUE(std::filesystem::is_directory(config.runs_root));
  config.slurm_conf = (dir.path() / "missing.conf").string();
  EXPECT_NE(CheckSlurmConfig(config).message().find("--slurm-conf"), std::string::npos);
  config.slurm_conf = "";
  config.network = "10.0.0.0/33";
  EXPECT_NE(CheckSlurmConfig(config).message().find("--network: '10.0.0.0/33'"), std::string::npos);
  config.network = "eth0";
  EXPECT_TRUE(CheckSlurmConfig(config).ok());
}

}  // namespace
}  // namespace kiln::compute
