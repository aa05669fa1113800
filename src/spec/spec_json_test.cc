#include "spec/spec_json.h"

#include <gtest/gtest.h>

namespace kiln::spec {
namespace {

TEST(SpecJsonTest, RoundTripsEveryField) {
  JobSpec spec;
  spec.source_directory = "/src/proj";
  spec.entry_script = "train.py";
  spec.script_params = {{"--data_dir", "{datastore:fm}"}, {"--verbose", std::nullopt}};
  spec.conda_packages = {"numpy"};
  spec.pip_packages = {"x==1"};
  spec.use_gpu = true;
  spec.node_count = 2;
  spec.process_count_per_node = 4;
  spec.distributed_backend = DistributedBackend::kNccl;
  spec.experiment = "e";
  spec.display_name = "d";
  spec.tags = {{"a", "b"}};
  spec.environment_variables = {{"Z", "1"}, {"A", "2"}};
  spec.max_run_duration_seconds = 60;
  spec.python = "/usr/bin/python3";
  const Result<JobSpec> back = SpecFromJson(SpecToJson(spec));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, spec);
}

TEST(SpecJsonTest, DamagedJsonIsDataLoss) {
  nlohmann::json json = SpecToJson(JobSpec{});
  json.erase("entry_script");
  EXPECT_EQ(SpecFromJson(json).status().code(), StatusCode::kDataLoss);
  json = SpecToJson(JobSpec{});
  json["version"] = 9;
  EXPECT_EQ(SpecFromJson(json).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace kiln::spec
