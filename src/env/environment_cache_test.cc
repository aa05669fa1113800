// Real builds: virtual environments from /usr/bin/python3 and pip installs, offline, of a
// wheel each test makes itself.

#include "env/environment_cache.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/files.h"
#include "common/subprocess.h"
#include "common/test_dir.h"

namespace kiln::env {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

CapturedRun RunTool(std::vector<std::string> argv, const fs::path& cwd = {}) {
  SpawnOptions options;
  options.argv = std::move(argv);
  options.cwd = cwd;
  Result<CapturedRun> run = RunAndCapture(options, std::chrono::minutes(3));
  KILN_CHECK(run.ok());
  return *run;
}

void Write(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string Read(const fs::path& path) {
  Result<std::string> text = ReadFileToString(path);
  return text.ok() ? *text : "";
}

class EnvironmentCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A pure-Python package, made into a wheel with the system's setuptools.
    const fs::path source = dir_.path() / "pkg";
    Write(source / "kiln_envtest" / "__init__.py", "VALUE = 42\n");
    Write(source / "setup.py",
          "from setuptools import setup\n"
          "setup(name='kiln-envtest', version='1.0', packages=['kiln_envtest'])\n");
    const CapturedRun wheel =
        RunTool({"/usr/bin/python3", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--no-index", "--disable-pip-version-check", "-w", wheels_.string(), "."},
                source);
    ASSERT_TRUE(wheel.exit.success()) << wheel.out << wheel.err;
    spec_.name = "envtest";
    spec_.pip_packages = {"kiln-envtest==1.0"};
    spec_.pip_find_links = {wheels_.string()};
  }

  TestDir dir_;
  fs::path wheels_ = dir_.path() / "wheels";
  std::string log_;  // what Ensure said, a line each
  LineSink sink_ = [this](std::string_view line) { log_.append(line).append("\n"); };
  EnvironmentCache cache_{dir_.path() / "envs"};
  EnvironmentSpec spec_;
};

TEST_F(EnvironmentCacheTest, BuildsOnceThenReusesWithoutPip) {
  Result<ReadyEnvironment> first = cache_.Ensure(spec_, sink_);
  ASSERT_TRUE(first.ok()) << first.status().message() << log_;
  EXPECT_TRUE(first->built);
  EXPECT_EQ(first->root, cache_.root() / EnvironmentHash(spec_));
  // The package is installed, and the system's torch is still importable beside it.
  const CapturedRun probe = RunTool({first->python.string(), "-c",
                                     "import kiln_envtest, torch, sys; "
                                     "print(kiln_envtest.VALUE, sys.prefix != sys.base_prefix)"});
  ASSERT_TRUE(probe.exit.success()) << probe.err;
  EXPECT_EQ(probe.out, "42 True\n");

  const std::string after_first = log_;
  EXPECT_THAT(after_first, HasSubstr("pip install"));
  Result<ReadyEnvironment> second = cache_.Ensure(spec_, sink_);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_FALSE(second->built);
  const std::string reuse = log_.substr(after_first.size());
  EXPECT_THAT(reuse, HasSubstr("is built already"));
  EXPECT_THAT(reuse, ::testing::Not(HasSubstr("pip")));
}

TEST_F(EnvironmentCacheTest, RunsAskingAtOnceShareOneBuild) {
  std::vector<Result<ReadyEnvironment>> results;
  for (int i = 0; i < 3; ++i) results.emplace_back(InternalError("not run"));
  std::vector<std::string> logs(results.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] = cache_.Ensure(
          spec_, [&logs, i](std::string_view line) { logs[i].append(line).append("\n"); });
    });
  }
  for (std::thread& thread : threads) thread.join();
  int builds = 0;
  int waited = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status().message();
    builds += results[i]->built ? 1 : 0;
    waited += logs[i].find("waiting for another run") != std::string::npos;
  }
  EXPECT_EQ(builds, 1);
  EXPECT_EQ(waited, 2);
}

TEST_F(EnvironmentCacheTest, AFailedInstallLeavesNothingAndSaysWhy) {
  spec_.pip_packages = {"kiln-no-such-package"};
  Result<ReadyEnvironment> ready = cache_.Ensure(spec_, sink_);
  ASSERT_FALSE(ready.ok());
  const std::string hash = EnvironmentHash(spec_);
  EXPECT_THAT(ready.status().message(), HasSubstr("building environment " + hash.substr(0, 12)));
  EXPECT_THAT(ready.status().message(),
              HasSubstr("No matching distribution found for kiln-no-such-package"));
  EXPECT_FALSE(fs::exists(cache_.root() / hash));
  EXPECT_THAT(Read(cache_.root() / (hash + ".failed.log")), HasSubstr("kiln-no-such-package"));
  Result<std::vector<EnvironmentCache::Entry>> listed = cache_.List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TEST_F(EnvironmentCacheTest, CredentialsInAnIndexUrlStayOutOfTheLogs) {
  // An index on a closed local port: pip fails at once (no retries), having been given
  // the password on its command line.
  ::setenv("PIP_RETRIES", "0", 1);
  spec_.pip_packages = {"kiln-no-such-package"};
  spec_.pip_index_url = "http://kiln:s3cret-pw@127.0.0.1:1/simple?token=tok-secret";
  Result<ReadyEnvironment> ready = cache_.Ensure(spec_, sink_);
  ::unsetenv("PIP_RETRIES");
  ASSERT_FALSE(ready.ok());
  const std::string hash = EnvironmentHash(spec_);
  const std::string failed_log = Read(cache_.root() / (hash + ".failed.log"));
  EXPECT_THAT(log_, HasSubstr("--index-url http://kiln:***@127.0.0.1:1/simple?token=***"));
  for (const std::string& text : {log_, failed_log, std::string(ready.status().message())}) {
    EXPECT_THAT(text, ::testing::Not(HasSubstr("s3cret-pw")));
    EXPECT_THAT(text, ::testing::Not(HasSubstr("tok-secret")));
  }
  EXPECT_THAT(failed_log, HasSubstr("kiln-no-such-package"));
}

TEST_F(EnvironmentCacheTest, ACanceledBuildStopsAndLeavesNothing) {
  std::atomic<bool> cancel{false};
  const LineSink sink = [&](std::string_view line) {
    if (line.find("pip install") != std::string_view::npos) cancel = true;  // mid-build
  };
  Result<ReadyEnvironment> ready = cache_.Ensure(spec_, sink, [&] { return cancel.load(); });
  EXPECT_EQ(ready.status().code(), StatusCode::kCancelled);
  EXPECT_FALSE(fs::exists(cache_.root() / EnvironmentHash(spec_)));
}

TEST_F(EnvironmentCacheTest, AHalfBuiltFolderIsRebuiltNotUsed) {
  const fs::path half = cache_.root() / EnvironmentHash(spec_);
  Write(half / "bin" / "python", "not a python\n");
  Result<ReadyEnvironment> ready = cache_.Ensure(spec_, sink_);
  ASSERT_TRUE(ready.ok()) << ready.status().message();
  EXPECT_TRUE(ready->built);
  EXPECT_TRUE(RunTool({ready->python.string(), "-c", "import kiln_envtest"}).exit.success());
}

TEST_F(EnvironmentCacheTest, PruneRemovesOnlyLongUnusedEnvironmentsNoRunHolds) {
  Result<ReadyEnvironment> ready = cache_.Ensure(spec_, sink_);
  ASSERT_TRUE(ready.ok()) << ready.status().message();
  const fs::path marker = ready->root / "kiln-environment.json";
  fs::last_write_time(marker, fs::file_time_type::clock::now() - std::chrono::hours(48));
  // A run still holds it.
  Result<std::vector<std::string>> pruned = cache_.Prune(std::chrono::hours(24));
  ASSERT_TRUE(pruned.ok());
  EXPECT_TRUE(pruned->empty());
  ready->in_use.reset();
  pruned = cache_.Prune(std::chrono::hours(72));
  ASSERT_TRUE(pruned.ok());
  EXPECT_TRUE(pruned->empty());  // not unused long enough
  pruned = cache_.Prune(std::chrono::hours(24));
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, std::vector<std::string>{ready->hash});
  EXPECT_FALSE(fs::exists(ready->root));
}

TEST(EnvironmentSpecTest, TheHashFollowsWhatIsBuiltNotNamesOrVariables) {
  EnvironmentSpec a;
  a.pip_packages = {"x==1", "y"};
  EnvironmentSpec renamed = a;
  renamed.name = "other";
  renamed.environment_variables = {{"K", "v"}};
  EXPECT_EQ(EnvironmentHash(a), EnvironmentHash(renamed));
  EnvironmentSpec reordered = a;
  reordered.pip_packages = {"y", "x==1"};
  EXPECT_NE(EnvironmentHash(a), EnvironmentHash(reordered));
  EnvironmentSpec isolated = a;
  isolated.system_site_packages = false;
  EXPECT_NE(EnvironmentHash(a), EnvironmentHash(isolated));
  Result<EnvironmentSpec> back = EnvironmentFromJson(EnvironmentToJson(renamed));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, renamed);
}

TEST(EnvironmentSpecTest, CondaPackagesWithoutCondaAreRefusedByName) {
  TestDir dir;
  EXPECT_TRUE(FindCondaTool(dir.path().string()).empty());
  Write(dir.path() / "mamba", "#!/bin/sh\n");
  ::chmod((dir.path() / "mamba").c_str(), 0755);
  EXPECT_EQ(FindCondaTool(dir.path().string()), dir.path() / "mamba");

  EnvironmentSpec spec;
  spec.conda_packages = {"numpy", "scipy=1.11"};
  const char* path = std::getenv("PATH");
  if (!FindCondaTool(path != nullptr ? path : "").empty()) GTEST_SKIP() << "conda is installed";
  const Status status = CheckBuildable(spec);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "conda_packages (numpy, scipy=1.11) need conda, mamba or micromamba, and none is on "
            "PATH; install one of them, or take the packages from pip_packages");
}

}  // namespace
}  // namespace kiln::env
