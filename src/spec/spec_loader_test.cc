#include "spec/spec_loader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/files.h"
#include "common/test_dir.h"
#include "spec/spec_json.h"

namespace kiln::spec {
namespace {
namespace fs = std::filesystem;

class SpecLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(CreateDirectories(dir_.path() / "proj").ok());
    ASSERT_TRUE(WriteFileAtomically(dir_.path() / "proj/train.py", "print(1)\n").ok());
  }

  // Writes `yaml` to job.yaml in the test folder and loads it under the label "job.yaml".
  Result<LoadedJob> Load(const std::string& yaml, const SpecOverrides& overrides = {}) {
    EXPECT_TRUE(WriteFileAtomically(dir_.path() / "job.yaml", yaml).ok());
    SpecOverrides with_base = overrides;
    if (with_base.base_dir.empty()) with_base.base_dir = dir_.path();
    return LoadJobSpecFromText(yaml, "job.yaml", dir_.path(), with_base);
  }

  std::string Error(const std::string& yaml, const SpecOverrides& overrides = {}) {
    const Result<LoadedJob> loaded = Load(yaml, overrides);
    if (loaded.ok()) return "<loaded>";
    EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
    return loaded.status().message();
  }

  TestDir dir_;
};

constexpr const char* kMinimal = "source_directory: ./proj\nentry_script: train.py\n";

TEST_F(SpecLoaderTest, MinimalJobGetsDefaults) {
  const Result<LoadedJob> loaded = Load(kMinimal);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const JobSpec& spec = loaded->spec;
  EXPECT_EQ(spec.source_directory, dir_.path() / "proj");
  EXPECT_EQ(spec.entry_script, "train.py");
  EXPECT_EQ(spec.compute_target, "local");
  EXPECT_EQ(spec.node_count, 1);
  EXPECT_EQ(spec.process_count_per_node, 1);
  EXPECT_EQ(spec.distributed_backend, DistributedBackend::kNone);
  EXPECT_EQ(spec.experiment, "default");
  EXPECT_FALSE(spec.use_gpu);
  EXPECT_FALSE(spec.max_run_duration_seconds.has_value());
  EXPECT_TRUE(spec.entry_is_python());
}

TEST_F(SpecLoaderTest, EveryFieldIsRead) {
  const Result<LoadedJob> loaded = Load(R"(
version: 1
source_directory: proj
entry_script: ./train.py
script_params:
  --data_dir: "{datastore:fm}"
  --epochs: 2
  --verbose:
  --quiet: ""
compute_target: local
conda_packages: [numpy]
pip_packages: [requests==2.31]
use_gpu: false
node_count: 2
process_count_per_node: 3
distributed_backend: GLOO
experiment: fashion-mnist
display_name: first try
tags: {owner: ana, lr: 0.1}
environment_variables: {OMP_NUM_THREADS: 2}
max_run_duration_seconds: 3600
python: /bin/sh
)");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const JobSpec& spec = loaded->spec;
  EXPECT_EQ(spec.entry_script, "train.py");
  ASSERT_EQ(spec.script_params.size(), 4u);
  EXPECT_EQ(spec.script_params[0], (ScriptParam{"--data_dir", "{datastore:fm}"}));
  EXPECT_EQ(spec.script_params[1], (ScriptParam{"--epochs", "2"}));
  EXPECT_EQ(spec.script_params[2], (ScriptParam{"--verbose", std::nullopt}));
  EXPECT_EQ(spec.script_params[3], (ScriptParam{"--quiet", std::nullopt}));
  EXPECT_EQ(spec.conda_packages, std::vector<std::string>{"numpy"});
  EXPECT_EQ(spec.pip_packages, std::vector<std::string>{"requests==2.31"});
  EXPECT_EQ(spec.world_size(), 6);
  EXPECT_EQ(spec.distributed_backend, DistributedBackend::kGloo);
  EXPECT_EQ(spec.experiment, "fashion-mnist");
  EXPECT_EQ(spec.display_name, "first try");
  EXPECT_EQ(spec.tags.at("lr"), "0.1");
  EXPECT_EQ(spec.environment_variables.at(0).second, "2");
  EXPECT_EQ(spec.max_run_duration_seconds, 3600);
  EXPECT_EQ(spec.python, "/bin/sh");
}

TEST_F(SpecLoaderTest, CountsMustBePositive) {
  EXPECT_EQ(Error(std::string(kMinimal) + "node_count: 0\n"),
            "job.yaml: node_count: must be >= 1, got 0");
  EXPECT_EQ(Error(std::string(kMinimal) + "process_count_per_node: -2\n"),
            "job.yaml: process_count_per_node: must be >= 1, got -2");
  EXPECT_EQ(Error(std::string(kMinimal) + "node_count: two\n"),
            "job.yaml: node_count: must be an integer, got 'two'");
  EXPECT_EQ(Error(std::string(kMinimal) + "node_count: [1]\n"),
            "job.yaml: node_count: must be an integer, got a list");
  EXPECT_EQ(Error(std::string(kMinimal) + "max_run_duration_seconds: 0\n"),
            "job.yaml: max_run_duration_seconds: must be >= 1, got 0");
}

TEST_F(SpecLoaderTest, EntryScriptMustExistInSource) {
  EXPECT_EQ(Error("source_directory: ./proj\nentry_script: missing.py\n"),
            "job.yaml: entry_script: 'missing.py' not found in source_directory './proj'");
  EXPECT_EQ(Error("source_directory: ./proj\n"),
            "job.yaml: entry_script: is required: the script or program to run, relative to "
            "source_directory");
  EXPECT_EQ(Error("source_directory: ./proj\nentry_script: ../job.yaml\n"),
            "job.yaml: entry_script: must be a path inside source_directory './proj', got "
            "'../job.yaml'");
  EXPECT_EQ(Error("source_directory: ./proj\nentry_script: /bin/true\n"),
            "job.yaml: entry_script: must be a path inside source_directory './proj', got "
            "'/bin/true'");
}

TEST_F(SpecLoaderTest, NonPythonEntryMustBeExecutable) {
  ASSERT_TRUE(WriteFileAtomically(dir_.path() / "proj/run", "#!/bin/sh\n").ok());
  EXPECT_EQ(Error("source_directory: ./proj\nentry_script: run\n"),
            "job.yaml: entry_script: 'run' is not a .py script and is not executable; make it "
            "executable (chmod +x) or name a .py script");
  ::chmod((dir_.path() / "proj/run").c_str(), 0755);
  const Result<LoadedJob> loaded = Load("source_directory: ./proj\nentry_script: run\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_FALSE(loaded->spec.entry_is_python());
}

TEST_F(SpecLoaderTest, SourceDirectoryMustBeADirectory) {
  EXPECT_EQ(Error("source_directory: ./nope\nentry_script: train.py\n"),
            "job.yaml: source_directory: './nope' does not exist");
  EXPECT_EQ(Error("source_directory: ./proj/train.py\nentry_script: train.py\n"),
            "job.yaml: source_directory: './proj/train.py' is not a directory");
}

TEST_F(SpecLoaderTest, SeveralRanksNeedABackend) {
  EXPECT_EQ(Error(std::string(kMinimal) + "node_count: 2\n"),
            "job.yaml: node_count is 2 but distributed_backend is none; set mpi, gloo or nccl");
  EXPECT_EQ(Error(std::string(kMinimal) + "process_count_per_node: 4\n"),
            "job.yaml: process_count_per_node is 4 but distributed_backend is none; set mpi, "
            "gloo or nccl");
  EXPECT_EQ(Error(std::string(kMinimal) + "distributed_backend: mpich\n"),
            "job.yaml: distributed_backend: must be one of none, mpi, gloo, nccl; got 'mpich'");
}

TEST_F(SpecLoaderTest, GpuRanksDefaultToNccl) {
  const Result<LoadedJob> several =
      Load(std::string(kMinimal) + "use_gpu: true\nprocess_count_per_node: 2\n");
  ASSERT_TRUE(several.ok()) << several.status().ToString();
  EXPECT_EQ(several->spec.distributed_backend, DistributedBackend::kNccl);
  const Result<LoadedJob> chosen = Load(std::string(kMinimal) +
                                        "use_gpu: true\nprocess_count_per_node: 2\n"
                                        "distributed_backend: gloo\n");
  ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
  EXPECT_EQ(chosen->spec.distributed_backend, DistributedBackend::kGloo);
  const Result<LoadedJob> one = Load(std::string(kMinimal) + "use_gpu: true\n");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->spec.distributed_backend, DistributedBackend::kNone);
}

TEST_F(SpecLoaderTest, UnknownFieldSuggestsTheClosest) {
  EXPECT_EQ(Error(std::string(kMinimal) + "node_cout: 2\n"),
            "job.yaml: unknown field 'node_cout'; did you mean 'node_count'?");
  const std::string far = Error(std::string(kMinimal) + "banana: 2\n");
  EXPECT_TRUE(
      far.starts_with("job.yaml: unknown field 'banana'; the fields are: version, "
                      "source_directory, entry_script"))
      << far;
}

TEST_F(SpecLoaderTest, AllProblemsAreReportedTogether) {
  EXPECT_EQ(Error(std::string(kMinimal) + "node_cout: 2\nuse_gpu: maybe\nexperiment: 'a b'\n"),
            "job.yaml: unknown field 'node_cout'; did you mean 'node_count'?\n"
            "job.yaml: use_gpu: must be true or false, got 'maybe'\n"
            "job.yaml: experiment: must be 1 to 64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit; got 'a b'");
}

TEST_F(SpecLoaderTest, TypesAreChecked) {
  EXPECT_EQ(Error(std::string(kMinimal) + "pip_packages: requests\n"),
            "job.yaml: pip_packages: must be a list of text, got a value");
  EXPECT_EQ(Error(std::string(kMinimal) + "conda_packages: ['']\n"),
            "job.yaml: conda_packages: entry 1 must be non-empty text");
  EXPECT_EQ(Error(std::string(kMinimal) + "tags: [a]\n"),
            "job.yaml: tags: must be a mapping of names to values, got a list");
  EXPECT_EQ(Error(std::string(kMinimal) + "script_params: [--epochs, 2]\n"),
            "job.yaml: script_params: must be a mapping of arguments to values (--epochs: 2), "
            "got a list");
  EXPECT_EQ(Error(std::string(kMinimal) + "script_params: {--lr: [1, 2]}\n"),
            "job.yaml: script_params: --lr: must be a single value (text, a number or a "
            "datastore reference), got a list");
  EXPECT_EQ(Error(std::string(kMinimal) + "compute_target: ''\n"),
            "job.yaml: compute_target: must not be empty");
  EXPECT_EQ(Error(std::string(kMinimal) + "version: 2\n"),
            "job.yaml: version: this Kiln reads job files of version 1, got 2");
  EXPECT_EQ(Error(std::string(kMinimal) + "python: /no/such/python\n"),
            "job.yaml: python: '/no/such/python' is not an executable file");
}

TEST_F(SpecLoaderTest, DuplicateKeysAreRejected) {
  EXPECT_EQ(Error(std::string(kMinimal) + "script_params:\n  --a: 1\n  --a: 2\n"),
            "job.yaml: script_params: --a: is given twice");
}

TEST_F(SpecLoaderTest, ReservedEnvironmentIsRefused) {
  EXPECT_EQ(Error(std::string(kMinimal) + "environment_variables: {RANK: 3}\n"),
            "job.yaml: environment_variables: RANK is set by Kiln for every rank and cannot be "
            "set by the job");
  EXPECT_EQ(Error(std::string(kMinimal) + "environment_variables: {KILN_RUN_ID: x}\n"),
            "job.yaml: environment_variables: KILN_RUN_ID is set by Kiln for every rank and "
            "cannot be set by the job");
  EXPECT_EQ(Error(std::string(kMinimal) + "environment_variables: {1BAD: x}\n"),
            "job.yaml: environment_variables: '1BAD' is not a valid variable name (letters, "
            "digits and '_', not starting with a digit)");
}

TEST_F(SpecLoaderTest, InvalidYamlNamesLineAndColumn) {
  const std::string message = Error("source_directory: [unclosed\n");
  EXPECT_TRUE(message.starts_with("job.yaml:")) << message;
  EXPECT_NE(message.find("not valid YAML"), std::string::npos) << message;
  EXPECT_EQ(Error("- a\n- b\n"),
            "job.yaml: must be a mapping of fields (source_directory: ..., entry_script: ...), "
            "got a list");
}

TEST_F(SpecLoaderTest, FlagsOverrideTheFile) {
  SpecOverrides overrides;
  overrides.scalars["node_count"] = "1";
  overrides.scalars["experiment"] = "from-flag";
  overrides.script_params = {{"--epochs", "5"}, {"--new", std::nullopt}};
  overrides.tags = {{"owner", "bo"}};
  overrides.pip_packages = {"extra"};
  const Result<LoadedJob> loaded =
      Load(std::string(kMinimal) +
               "node_count: 3\ndistributed_backend: gloo\nscript_params: {--epochs: 2, --lr: 1}\n"
               "tags: {owner: ana, team: x}\npip_packages: [base]\n",
           overrides);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const JobSpec& spec = loaded->spec;
  EXPECT_EQ(spec.node_count, 1);
  EXPECT_EQ(spec.experiment, "from-flag");
  EXPECT_EQ(spec.script_params,
            (std::vector<ScriptParam>{{"--epochs", "5"}, {"--lr", "1"}, {"--new", std::nullopt}}));
  EXPECT_EQ(spec.tags.at("owner"), "bo");
  EXPECT_EQ(spec.tags.at("team"), "x");
  EXPECT_EQ(spec.pip_packages, (std::vector<std::string>{"base", "extra"}));
}

TEST_F(SpecLoaderTest, FlagErrorsNameTheFlag) {
  SpecOverrides overrides;
  overrides.scalars["node_count"] = "0";
  EXPECT_EQ(Error(kMinimal, overrides), "--node-count: must be >= 1, got 0");
  SpecOverrides entry;
  entry.scalars["entry_script"] = "other.py";
  EXPECT_EQ(Error(kMinimal, entry),
            "--entry-script: 'other.py' not found in source_directory './proj'");
}

TEST_F(SpecLoaderTest, FlagsAloneMakeAJob) {
  SpecOverrides overrides;
  overrides.scalars["source_directory"] = "proj";
  overrides.scalars["entry_script"] = "train.py";
  overrides.base_dir = dir_.path();
  const Result<LoadedJob> loaded = LoadJobSpec(std::nullopt, overrides);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->spec.source_directory, dir_.path() / "proj");
  SpecOverrides bad = overrides;
  bad.scalars["node_count"] = "x";
  const Result<LoadedJob> failed = LoadJobSpec(std::nullopt, bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "--node-count: must be an integer, got 'x'");
}

TEST_F(SpecLoaderTest, MissingJobFileIsAClearError) {
  const Result<LoadedJob> loaded = LoadJobSpec(dir_.path() / "nope.yaml", {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            (dir_.path() / "nope.yaml").string() + ": job file does not exist");
}

TEST_F(SpecLoaderTest, RelativePathsFollowTheJobFile) {
  ASSERT_TRUE(CreateDirectories(dir_.path() / "jobs").ok());
  ASSERT_TRUE(WriteFileAtomically(dir_.path() / "jobs/job.yaml",
                                  "source_directory: ../proj\n"
                                  "entry_script: train.py\n")
                  .ok());
  const Result<LoadedJob> loaded = LoadJobSpec(dir_.path() / "jobs/job.yaml", {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->spec.source_directory, dir_.path() / "proj");
  EXPECT_EQ(loaded->job_file, dir_.path() / "jobs/job.yaml");
}

TEST_F(SpecLoaderTest, AFileThatIsNotUtf8IsRefusedNamingFieldAndByte) {
  EXPECT_EQ(Error(std::string(kMinimal) + "display_name: caf\xe9\n"),
            "job.yaml: display_name: byte offset 65 (line 3) is not valid UTF-8 (0xe9); save the "
            "file as UTF-8");
  EXPECT_EQ(Error(std::string(kMinimal) + "script_params:\n  --city: K\xf6ln\n"),
            "job.yaml: script_params: byte offset 74 (line 4) is not valid UTF-8 (0xf6); save "
            "the file as UTF-8");
  EXPECT_EQ(Error("# r\xe9sum\xe9\n" + std::string(kMinimal)),
            "job.yaml: byte offset 3 (line 1) is not valid UTF-8 (0xe9); save the file as UTF-8");
}

TEST_F(SpecLoaderTest, FlagsThatAreNotUtf8AreRefusedByName) {
  SpecOverrides overrides;
  overrides.scalars["display_name"] = "caf\xe9";
  overrides.script_params = {{"--city", "K\xf6ln"}};
  EXPECT_EQ(Error(kMinimal, overrides),
            "--script-param --city: the value's byte offset 1 is not valid UTF-8 (0xf6)\n"
            "--display-name: byte offset 3 is not valid UTF-8 (0xe9)");
}

TEST_F(SpecLoaderTest, AnExperimentThatLeavesRunsIsRefused) {
  EXPECT_EQ(Error(std::string(kMinimal) + "experiment: ../../x\n"),
            "job.yaml: experiment: must be 1 to 64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit; got '../../x'");
  EXPECT_EQ(Error(std::string(kMinimal) + "experiment: \"a\\nb\"\n"),
            "job.yaml: experiment: must be 1 to 64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit; got 'a\\nb'");
  EXPECT_EQ(Error(std::string(kMinimal) + "node_count: 99999999999\n"),
            "job.yaml: node_count: must be <= 100000, got 99999999999");
}

TEST(SpecSourceTest, NamesFieldsAndParams) {
  const SpecSource source("job.yaml", {"node_count"}, {"--lr"});
  EXPECT_EQ(source.Where("entry_script"), "job.yaml: entry_script");
  EXPECT_EQ(source.Where("node_count"), "--node-count");
  EXPECT_EQ(source.WhereParam("--data_dir"), "job.yaml: script_params: --data_dir");
  EXPECT_EQ(source.WhereParam("--lr"), "--script-param --lr");
  EXPECT_EQ(FlagForField("process_count_per_node"), "--process-count-per-node");
}

}  // namespace
}  // namespace kiln::spec

namespace kiln::spec {
namespace {

class EnvironmentFieldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(CreateDirectories(dir_.path() / "proj").ok());
    ASSERT_TRUE(WriteFileAtomically(dir_.path() / "proj/train.py", "print(1)\n").ok());
    ASSERT_TRUE(CreateDirectories(dir_.path() / "wheels").ok());
  }
  Result<LoadedJob> Load(const std::string& yaml) {
    return LoadJobSpecFromText(std::string(kEnvMinimal) + yaml, "job.yaml", dir_.path(), {});
  }
  std::string Error(const std::string& yaml) {
    const Result<LoadedJob> loaded = Load(yaml);
    return loaded.ok() ? "(loaded)" : loaded.status().message();
  }
  static constexpr const char* kEnvMinimal = "source_directory: ./proj\nentry_script: train.py\n";
  TestDir dir_;
};

TEST_F(EnvironmentFieldTest, ANameRefersToARegisteredEnvironment) {
  const Result<LoadedJob> loaded = Load("environment: torch-extras\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->spec.environment_name, "torch-extras");
  EXPECT_FALSE(loaded->spec.environment);
}

TEST_F(EnvironmentFieldTest, ADefinitionIsReadWithPathsFromTheFilesFolder) {
  const Result<LoadedJob> loaded = Load(R"(environment:
  name: extras
  pip_packages: [tqdm==4.66]
  pip_find_links: [wheels, https://example.org/wheels]
  pip_index_url: https://pypi.example.org/simple
  environment_variables: {MODE: fast}
  system_site_packages: false
)");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_TRUE(loaded->spec.environment);
  const env::EnvironmentSpec& e = *loaded->spec.environment;
  EXPECT_EQ(e.name, "extras");
  EXPECT_EQ(e.pip_packages, std::vector<std::string>{"tqdm==4.66"});
  EXPECT_EQ(e.pip_find_links, (std::vector<std::string>{(dir_.path() / "wheels").string(),
                                                        "https://example.org/wheels"}));
  EXPECT_EQ(e.pip_index_url, "https://pypi.example.org/simple");
  EXPECT_EQ(e.environment_variables,
            (std::vector<std::pair<std::string, std::string>>{{"MODE", "fast"}}));
  EXPECT_FALSE(e.system_site_packages);
  EXPECT_EQ(e.python, "");  // submit fills in the job's interpreter
}

TEST_F(EnvironmentFieldTest, MistakesAreNamedFieldByField) {
  EXPECT_EQ(Error("environment: {pip_pakages: [x]}\n"),
            "job.yaml: environment: unknown field 'pip_pakages'; the fields are name, python, "
            "pip_packages, conda_packages, pip_index_url, pip_find_links, environment_variables, "
            "system_site_packages");
  EXPECT_EQ(Error("environment: {pip_find_links: [nowhere]}\n"),
            "job.yaml: environment: pip_find_links: 'nowhere' is not a folder");
  EXPECT_EQ(Error("environment: {pip_packages: tqdm}\n"),
            "job.yaml: environment: pip_packages: must be a list of text, got a value");
  EXPECT_EQ(Error("environment: [a]\n"),
            "job.yaml: environment: must be a registered environment's name or a mapping that "
            "defines one, got a list");
  EXPECT_EQ(Error("environment: {environment_variables: {RANK: '1'}}\n"),
            "job.yaml: environment: environment_variables: RANK is set by Kiln for every rank "
            "and cannot be set by the job");
}

TEST_F(EnvironmentFieldTest, TheDefinitionSurvivesTheStoredForm) {
  const Result<LoadedJob> loaded =
      Load("environment: {name: extras, pip_packages: [a, b]}\npip_packages: [c]\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  JobSpec spec = loaded->spec;
  spec.environment_hash = "abc";
  Result<JobSpec> back = SpecFromJson(SpecToJson(spec));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, spec);
}

}  // namespace
}  // namespace kiln::spec
