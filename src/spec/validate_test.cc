#include "spec/validate.h"

#include <gtest/gtest.h>

#include "common/files.h"
#include "common/test_dir.h"

namespace kiln::spec {
namespace {

// A spec as a client's request carries it: every field set, no file behind it.
JobSpec RemoteSpec() {
  JobSpec spec;
  spec.source_directory = "/home/ana/proj";  // on the client's machine, not this one
  spec.entry_script = "train.py";
  return spec;
}

ValidateOptions ServerSide() {
  ValidateOptions options;
  options.check_files = false;
  return options;
}

std::string Message(const JobSpec& spec, const ValidateOptions& options = ServerSide()) {
  const Status status = Validate(spec, SpecSource("job", {}, {}), options);
  if (status.ok()) return "<valid>";
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  return status.message();
}

TEST(ValidateTest, ServerSideSkipsTheClientsFilesystem) {
  EXPECT_EQ(Message(RemoteSpec()), "<valid>");
  EXPECT_EQ(Message(RemoteSpec(), ValidateOptions{}),
            "job: source_directory: '/home/ana/proj' does not exist");
}

TEST(ValidateTest, EntryScriptMayNotLeaveTheSource) {
  JobSpec spec = RemoteSpec();
  spec.entry_script = "../../etc/passwd";
  EXPECT_EQ(Message(spec),
            "job: entry_script: must be a path inside source_directory '/home/ana/proj', got "
            "'../../etc/passwd'");
  spec.entry_script = "";
  EXPECT_EQ(Message(spec),
            "job: entry_script: is required: the script or program to run, relative to "
            "source_directory");
}

TEST(ValidateTest, CountsHaveOneSetOfBounds) {
  JobSpec spec = RemoteSpec();
  spec.node_count = 0;
  spec.process_count_per_node = 100001;
  EXPECT_EQ(Message(spec),
            "job: node_count: must be >= 1, got 0\n"
            "job: process_count_per_node: must be <= 100000, got 100001");
  EXPECT_EQ(CountProblem(100000), std::nullopt);
  spec = RemoteSpec();
  spec.node_count = 2;
  EXPECT_EQ(Message(spec),
            "job: node_count is 2 but distributed_backend is none; set mpi, gloo or nccl");
}

TEST(ValidateTest, FlagsAreNamedAsFlags) {
  JobSpec spec = RemoteSpec();
  spec.experiment = "a b";
  const Status status = Validate(spec, SpecSource("job.yaml", {"experiment"}, {}), ServerSide());
  EXPECT_EQ(status.message(),
            "--experiment: must be 1 to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit; got 'a b'");
}

TEST(ValidateTest, FilesAreCheckedOnTheSubmittingMachine) {
  TestDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "run", "#!/bin/sh\n").ok());
  JobSpec spec;
  spec.source_directory = dir.path();
  spec.entry_script = "run";
  SpecSource source("job.yaml", {}, {});
  source.RecordGivenPath(dir.path().string(), "./proj");
  EXPECT_EQ(Validate(spec, source).message(),
            "job.yaml: entry_script: 'run' is not a .py script and is not executable; make it "
            "executable (chmod +x) or name a .py script");
  EXPECT_TRUE(Validate(spec, source, ServerSide()).ok());
  spec.entry_script = "nope.py";
  EXPECT_EQ(Validate(spec, source).message(),
            "job.yaml: entry_script: 'nope.py' not found in source_directory './proj'");
}

TEST(ValidateTest, EnvironmentDefinitionsAreChecked) {
  env::EnvironmentSpec environment;
  environment.name = "no good";
  environment.environment_variables = {{"KILN_X", "1"}};
  const std::vector<Problem> problems =
      FindEnvironmentProblems(environment, SpecSource("env.yaml", {}, {}), ServerSide());
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].field, "environment: name");
  EXPECT_EQ(problems[0].line, "env.yaml: environment: name: 'no good' is not an environment name");
  EXPECT_EQ(problems[1].line,
            "env.yaml: environment: environment_variables: KILN_X is set by Kiln for every rank "
            "and cannot be set by the job");
}

}  // namespace
}  // namespace kiln::spec
