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

TEST(ValidateTest, NamesThatBecomePathsOrScriptLinesHaveAStrictSet) {
  JobSpec spec = RemoteSpec();
  spec.experiment = "../../x";
  spec.compute_target = "slurm\nrm -rf /";
  spec.tags = {{"a b", "1"}};
  spec.environment_name = "../env";
  spec.environment_variables = {{"A-B", "1"}};
  EXPECT_EQ(Message(spec),
            "job: compute_target: must be 1 to 64 letters, digits, '.', '_' or '-', starting with "
            "a letter or digit; got 'slurm\\nrm -rf /'\n"
            "job: experiment: must be 1 to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit; got '../../x'\n"
            "job: tags: keys must be 1 to 128 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit; got 'a b'\n"
            "job: environment_variables: 'A-B' is not a valid variable name (letters, digits and "
            "'_', not starting with a digit)\n"
            "job: environment: '../env' is not an environment name (letters, digits, '.', '_' and "
            "'-', up to 64 characters), with ':VERSION' (a number from 1) for one of its "
            "versions");
}

TEST(ValidateTest, NoControlCharacterReachesAPathOrALine) {
  JobSpec spec = RemoteSpec();
  spec.source_directory = "/home/ana/pro\nj";
  spec.entry_script = "train\r.py";
  spec.python = "/usr/bin/python3\n";
  spec.display_name = "first\ttry";
  spec.tags = {{"owner", "ana\nbo"}};
  EXPECT_EQ(Message(spec),
            "job: source_directory: byte offset 13 is a newline, which is not allowed here\n"
            "job: entry_script: byte offset 5 is a carriage return, which is not allowed here\n"
            "job: display_name: byte offset 5 is a tab, which is not allowed here\n"
            "job: tags: owner: the value's byte offset 3 is a newline, which is not allowed here\n"
            "job: python: byte offset 16 is a newline, which is not allowed here");
}

TEST(ValidateTest, EntryScriptIsAPlainPathInsideTheSource) {
  JobSpec spec = RemoteSpec();
  spec.entry_script = "src/../../x.py";
  EXPECT_EQ(Message(spec),
            "job: entry_script: must be a path inside source_directory '/home/ana/proj', got "
            "'src/../../x.py'");
  spec.entry_script = "./src//train.py";
  EXPECT_EQ(Message(spec),
            "job: entry_script: must be a plain relative path such as 'train.py' or "
            "'src/train.py', got './src//train.py'");
  spec.entry_script = "src/train.py";
  EXPECT_EQ(Message(spec), "<valid>");
  spec.source_directory = "proj";
  EXPECT_EQ(Message(spec), "job: source_directory: must be an absolute path, got 'proj'");
}

TEST(ValidateTest, TextMustBeUtf8AndTheByteIsNamed) {
  JobSpec spec = RemoteSpec();
  spec.display_name = "caf\xe9";
  spec.script_params = {{"--note", "ol\xe9"}, {"caf\xe9", std::nullopt}};
  spec.environment_variables = {{"MODE", "\xff"}};
  EXPECT_EQ(Message(spec),
            "job: script_params: --note: the value's byte offset 2 is not valid UTF-8 (0xe9)\n"
            "job: script_params: caf\\xe9: the name's byte offset 3 is not valid UTF-8 (0xe9)\n"
            "job: display_name: byte offset 3 is not valid UTF-8 (0xe9)\n"
            "job: environment_variables: MODE: the value's byte offset 0 is not valid UTF-8 "
            "(0xff)");
  // Newlines may be in an argument or a variable; NUL cannot.
  spec = RemoteSpec();
  spec.script_params = {{"--text", "two\nlines"}};
  EXPECT_EQ(Message(spec), "<valid>");
  spec.script_params = {{"--text", std::string("a\0b", 3)}};
  EXPECT_EQ(Message(spec),
            "job: script_params: --text: the value's byte offset 1 is a NUL byte, which is not "
            "allowed here");
}

TEST(ValidateTest, ArgumentsFitTheKernelsLimits) {
  JobSpec spec = RemoteSpec();
  spec.script_params = {{"--blob", std::string(kMaxArgumentBytes - 1, 'x')}};
  EXPECT_EQ(Message(spec), "<valid>");
  spec.script_params = {{"--blob", std::string(kMaxArgumentBytes, 'x')}};
  EXPECT_EQ(Message(spec),
            "job: script_params: --blob: the value is 131072 bytes; one argument may hold at most "
            "131071 (the kernel's MAX_ARG_STRLEN); pass long values in a file");
  spec.script_params.clear();
  spec.environment_variables = {{"BIG", std::string(kMaxArgumentBytes, 'x')}};
  EXPECT_EQ(Message(spec),
            "job: environment_variables: BIG: the value is 131072 bytes; one variable may hold at "
            "most 131067 (the kernel's MAX_ARG_STRLEN, with its name)");

  ValidateOptions small = ServerSide();
  small.max_command_bytes = 1000;
  spec = RemoteSpec();
  spec.script_params = {{"--a", std::string(600, 'x')}, {"--b", std::string(600, 'y')}};
  EXPECT_EQ(Message(spec, small),
            "job: script_params: the ranks' command line and environment_variables take 1268 "
            "bytes; this machine allows 1000 (ARG_MAX less its environment); pass long values in "
            "a file");
  EXPECT_GT(CommandLineBudget(), 64u * 1024);
}

TEST(ValidateTest, PackagesAreNeverOptions) {
  JobSpec spec = RemoteSpec();
  spec.pip_packages = {"requests==2.31", "--index-url=http://x", ""};
  EXPECT_EQ(Message(spec),
            "job: pip_packages: entry 2: '--index-url=http://x' is an option, not a package; "
            "options belong in an environment definition (docs/environments.md)\n"
            "job: pip_packages: entry 3 must be non-empty text");
}

TEST(ValidateTest, WhatKilnSetsIsNotTakenFromTheRequest) {
  JobSpec spec = RemoteSpec();
  spec.environment_hash = "abc";
  spec.max_run_duration_seconds = kMaxRunDurationSeconds + 1;
  EXPECT_EQ(Message(spec),
            "job: max_run_duration_seconds: must be <= 316224000 (ten years), got 316224001\n"
            "job: environment_hash: is set by Kiln at submit; leave it empty");
}

}  // namespace
}  // namespace kiln::spec
