// Job environments end to end: real virtual environments and pip installs, offline, of a
// wheel the test builds; runs through the real kiln binary.

#include <fmt/format.h>
#include <gmock/gmock.h>

#include <fstream>
#include <thread>

#include "common/files.h"
#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Read(const fs::path& path) {
  Result<std::string> text = ReadFileToString(path);
  return text.ok() ? *text : "";
}

class EnvironmentTest : public KilnTest {
 protected:
  void SetUp() override {
    wheels_ = MakeWheel("kiln_envtest");
    project_ = Project("proj", {{"train.py",
                                 "import kiln_envtest, torch, sys, os\n"
                                 "print('mode', os.environ.get('EXTRAS_MODE'))\n"
                                 "print('value', kiln_envtest.VALUE, 'torch', torch.__version__)\n"
                                 "print('prefix', sys.prefix)\n"}});
  }

  // A job file using the test's wheel through `environment`.
  fs::path Job(const std::string& name, const std::string& packages) {
    const fs::path job = root() / (name + ".yaml");
    std::ofstream(job) << fmt::format(
        "source_directory: {}\nentry_script: train.py\nexperiment: envs\n"
        "environment:\n  name: {}\n  pip_packages: [{}]\n  pip_find_links: [{}]\n",
        project_.string(), name, packages, wheels_.string());
    return job;
  }

  nlohmann::json Show(const std::string& run) { return KilnJson({"show", run, "--json"}); }

  fs::path wheels_;
  fs::path project_;
};

TEST_F(EnvironmentTest, ARunBuildsItsEnvironmentAndTheNextReusesIt) {
  const std::string first = SubmitOk({Job("extras", "kiln-envtest==1.0").string()});
  ASSERT_TRUE(WaitForStatus(first, "Completed", std::chrono::seconds(180)));
  const nlohmann::json shown = Show(first);
  std::vector<std::string> history;
  for (const auto& change : shown["history"]) history.push_back(change["status"]);
  EXPECT_THAT(history, ::testing::Contains("Preparing"));
  const std::string rank = Read(RunDir(first) / "logs" / "rank-0.log");
  EXPECT_THAT(rank, HasSubstr("value 42 torch"));  // its package and the system's torch
  EXPECT_THAT(rank, HasSubstr((home() / "envs").string()));

  // `kiln logs` shows the build before the script's lines; `kiln show` names it.
  const CapturedRun logs = Kiln({"logs", first});
  EXPECT_THAT(logs.out, HasSubstr("[environment] kiln: building environment"));
  EXPECT_LT(logs.out.find("[environment]"), logs.out.find("value 42"));
  const CapturedRun text = Kiln({"show", first});
  EXPECT_THAT(text.out, HasSubstr("Python env extras "));
  EXPECT_THAT(text.out, HasSubstr("(kiln-envtest==1.0)"));

  const std::string second = SubmitOk({Job("extras", "kiln-envtest==1.0").string()});
  ASSERT_TRUE(WaitForStatus(second, "Completed", std::chrono::seconds(120)));
  const std::string reuse = Read(RunDir(second) / "logs" / "environment.log");
  EXPECT_THAT(reuse, HasSubstr("is built already"));
  EXPECT_THAT(reuse, Not(HasSubstr("pip install")));
  EXPECT_EQ(Show(second)["spec"]["environment_hash"], Show(first)["spec"]["environment_hash"]);
}

TEST_F(EnvironmentTest, RunsAskingAtOnceForANewEnvironmentShareOneBuild) {
  const fs::path job = Job("shared", "kiln-envtest");
  std::vector<std::string> runs(3);
  std::vector<std::thread> submits;
  for (std::string& run : runs) submits.emplace_back([&] { run = SubmitOk({job.string()}); });
  for (std::thread& submit : submits) submit.join();
  int builds = 0;
  for (const std::string& run : runs) {
    ASSERT_TRUE(WaitForStatus(run, "Completed", std::chrono::seconds(180))) << run;
    builds +=
        Read(RunDir(run) / "logs" / "environment.log").find("pip install") != std::string::npos;
  }
  EXPECT_EQ(builds, 1);
}

TEST_F(EnvironmentTest, AFailedInstallFailsTheRunInPreparingWithPipsError) {
  const std::string run = SubmitOk({Job("broken", "kiln-no-such-package").string()});
  ASSERT_TRUE(WaitForStatus(run, "Failed", std::chrono::seconds(120)));
  const nlohmann::json shown = Show(run);
  const std::string reason = shown["failure_reason"];
  EXPECT_THAT(reason, HasSubstr("preparing the run failed: building environment"));
  EXPECT_THAT(reason, HasSubstr("No matching distribution found for kiln-no-such-package"));
  EXPECT_FALSE(fs::exists(RunDir(run) / "logs" / "rank-0.log"));  // no rank started
  // Nothing half-built is left for a later run to use.
  const nlohmann::json listed = KilnJson({"env", "list", "--json"});
  EXPECT_TRUE(listed["built"].empty()) << listed.dump();
}

TEST_F(EnvironmentTest, CondaPackagesWithoutCondaAreRefusedAtSubmit) {
  const CapturedRun refused = Kiln({"submit", "--source-directory", project_.string(),
                                    "--entry-script", "train.py", "--conda-package", "numpy"},
                                   {{"PATH", "/usr/bin:/bin"}});
  EXPECT_EQ(refused.exit.code, 5) << refused.err;
  EXPECT_EQ(refused.err,
            "error: --conda-package: conda_packages (numpy) need conda, mamba or micromamba, and "
            "none is on PATH; install one of them, or take the packages from pip_packages\n");
  EXPECT_TRUE(KilnJson({"runs", "--json"}).empty());
}

TEST_F(EnvironmentTest, ARegisteredEnvironmentIsUsedByNameAndPrunedWhenUnused) {
  const fs::path definition = root() / "extras-env.yaml";
  std::ofstream(definition) << fmt::format(
      "name: extras\npip_packages: [kiln-envtest]\npip_find_links: [{}]\n"
      "environment_variables: {{EXTRAS_MODE: fast}}\n",
      wheels_.string());
  const CapturedRun registered = Kiln({"env", "register", definition.string()});
  ASSERT_EQ(registered.exit.code, 0) << registered.err;
  const nlohmann::json listed = KilnJson({"env", "list", "--json"});
  ASSERT_EQ(listed["registered"].size(), 1u);
  EXPECT_EQ(listed["registered"][0]["name"], "extras");

  const fs::path job = root() / "named.yaml";
  std::ofstream(job) << fmt::format(
      "source_directory: {}\nentry_script: train.py\nenvironment: extras\n", project_.string());
  const std::string run = SubmitOk({job.string()});
  ASSERT_TRUE(WaitForStatus(run, "Completed", std::chrono::seconds(180)));
  const std::string rank = Read(RunDir(run) / "logs" / "rank-0.log");
  EXPECT_THAT(rank, HasSubstr("value 42"));
  EXPECT_THAT(rank, HasSubstr("mode fast"));  // the environment's variables reach the ranks

  const CapturedRun unknown = Kiln({"submit", "--source-directory", project_.string(),
                                    "--entry-script", "train.py", "--environment", "nope"});
  EXPECT_EQ(unknown.exit.code, 3) << unknown.err;
  EXPECT_THAT(unknown.err, HasSubstr("--environment: no environment named 'nope' is registered"));

  const nlohmann::json shown = KilnJson({"env", "show", "extras"});
  ASSERT_FALSE(shown["built"].is_null());
  const CapturedRun kept = Kiln({"env", "prune", "--unused-for", "1d"});
  EXPECT_THAT(kept.out, HasSubstr("0 environment(s) removed"));
  const CapturedRun pruned = Kiln({"env", "prune", "--unused-for", "0s"});
  EXPECT_THAT(pruned.out, HasSubstr("removed " + shown["built"]["hash"].get<std::string>()));
  EXPECT_FALSE(fs::exists(shown["built"]["path"].get<std::string>()));
}

}  // namespace
}  // namespace kiln::e2e
