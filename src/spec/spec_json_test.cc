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

TEST(SpecJsonTest, CountsAreNeverWrappedOrTruncated) {
  nlohmann::json json = SpecToJson(JobSpec{});
  json["node_count"] = 4294967297LL;
  const Result<JobSpec> wrapped = SpecFromJson(json);
  EXPECT_EQ(wrapped.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(wrapped.status().message(), "node_count: must be <= 100000, got 4294967297");
  json["node_count"] = 1.5;
  EXPECT_EQ(SpecFromJson(json).status().message(), "node_count: must be an integer, got 1.5");
  // As a server reads it: parsed text, where 0 and 2 are unsigned.
  json["node_count"] = 0;
  json["process_count_per_node"] = 2;
  const Result<JobSpec> parsed = SpecFromJson(nlohmann::json::parse(json.dump()));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->node_count, 0);  // Validate's to refuse
  EXPECT_EQ(parsed->process_count_per_node, 2);
  json["node_count"] = 18446744073709551615ULL;
  EXPECT_EQ(SpecFromJson(nlohmann::json::parse(json.dump())).status().message(),
            "node_count: must be <= 100000, got 18446744073709551615");
}

}  // namespace
}  // namespace kiln::spec
