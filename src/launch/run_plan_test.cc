#include "launch/run_plan.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/files.h"
#include "common/test_dir.h"

namespace kiln::launch {
namespace {

TEST(RunPlanTest, RoundTripsThroughTheFile) {
  TestDir dir;
  const RunDir run_dir(dir.path() / "run");
  ASSERT_TRUE(run_dir.Create().ok());
  RunPlan plan;
  plan.run_id = "r";
  plan.experiment = "e";
  plan.store_url = "sqlite:///k/kiln.db";
  plan.snapshot_store = "/k/snapshots";
  plan.snapshot_id = "abc";
  plan.command = {"/usr/bin/python3", "train.py", "--epochs", "2"};
  plan.environment = {{"A", "1"}};
  plan.data = {{"--data_dir", "fm", "train", data::DataMode::kDownload, "/d/fm/train",
                "/run/data/fm/train"}};
  plan.ranks = {1, 1, spec::DistributedBackend::kGloo};
  plan.max_run_duration_seconds = 60;
  plan.spec = {{"entry_script", "train.py"}};
  env::EnvironmentSpec extras;
  extras.pip_packages = {"tqdm"};
  plan.python_environment = EnvironmentPlan{extras, "f00d", "/k/envs"};
  plan.slots = SlotRequest{"/k/local-queue", SlotKind::kGpus, 2, "sweep-1", 3};
  plan.warm_start = WarmStartPlan{"torch,torchvision"};
  ASSERT_TRUE(WritePlan(run_dir, plan).ok());
  const Result<RunPlan> read = ReadPlan(run_dir);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(PlanToJson(*read), PlanToJson(plan));
  EXPECT_EQ(read->data[0].mode, data::DataMode::kDownload);
  ASSERT_TRUE(read->python_environment);
  EXPECT_EQ(read->python_environment->definition, extras);
  ASSERT_TRUE(read->slots);
  EXPECT_EQ(read->slots->kind, SlotKind::kGpus);
  EXPECT_EQ(read->slots->group, "sweep-1");
  EXPECT_EQ(read->slots->group_limit, 3);
  ASSERT_TRUE(read->warm_start);
  EXPECT_EQ(read->warm_start->preload, "torch,torchvision");
}

TEST(RunPlanTest, WrongVersionIsDataLoss) {
  nlohmann::json json = PlanToJson(RunPlan{});
  json["version"] = 2;
  EXPECT_EQ(PlanFromJson(json).status().code(), StatusCode::kDataLoss);
}

TEST(RunPlanTest, PlanHoldsNoCredentialAndIsTheOwnersAlone) {
  TestDir dir;
  const RunDir run_dir(dir.path() / "run");
  ASSERT_TRUE(run_dir.Create().ok());
  RunPlan plan;
  plan.run_id = "r";
  plan.store_url = "postgresql://kiln:s3cret@db.example:5432/kiln?password=other";
  plan.command = {"/bin/true"};
  ASSERT_TRUE(WritePlan(run_dir, plan).ok());
  const std::string text = *ReadFileToString(run_dir.plan());
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  EXPECT_EQ(text.find("other"), std::string::npos) << text;
  EXPECT_EQ(text.find("store_token"), std::string::npos) << text;
  EXPECT_NE(text.find("postgresql://kiln:***@db.example:5432/kiln?password=***"), std::string::npos)
      << text;
  struct stat info {};
  ASSERT_EQ(::stat(run_dir.plan().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(run_dir.root().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  // Written again (a rewrite), it stays 0600 and no temporary file is left.
  ASSERT_TRUE(WritePlan(run_dir, plan).ok());
  ASSERT_EQ(::stat(run_dir.plan().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir.root())) {
    entries += entry.path().filename().string().starts_with("plan.json") ? 1 : 0;
  }
  EXPECT_EQ(entries, 1);
}

TEST(RunPlanTest, RunDirectoryIsMadeOnce) {
  TestDir dir;
  const RunDir run_dir(dir.path() / "runs/r1");
  ASSERT_TRUE(run_dir.Create().ok());
  EXPECT_TRUE(std::filesystem::is_directory(run_dir.logs()));
  EXPECT_TRUE(std::filesystem::is_directory(run_dir.outputs()));
  EXPECT_EQ(run_dir.Create().code(), StatusCode::kAlreadyExists);
}

TEST(RunPlanTest, CommandsForScriptsAndPrograms) {
  spec::JobSpec python;
  python.entry_script = "train.py";
  const std::vector<store::RunParam> params = {{"--data_dir", "{datastore:fm}", "/d/fm"},
                                               {"--verbose", {}, {}}};
  EXPECT_EQ(BuildCommand(python, params, "/usr/bin/python3", "/run/src"),
            (std::vector<std::string>{"/usr/bin/python3", "train.py", "--data_dir", "/d/fm",
                                      "--verbose"}));
  spec::JobSpec program;
  program.entry_script = "bin/train";
  EXPECT_EQ(BuildCommand(program, {}, "/usr/bin/python3", "/run/src"),
            (std::vector<std::string>{"/run/src/bin/train"}));
}

}  // namespace
}  // namespace kiln::launch
