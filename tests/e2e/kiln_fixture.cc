#include "e2e/kiln_fixture.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <thread>

#include "common/files.h"
#include "common/process_table.h"
#include "common/strings.h"

namespace kiln::e2e {
namespace fs = std::filesystem;

KilnTest::KilnTest() { EXPECT_TRUE(CreateDirectories(home()).ok()); }

CapturedRun KilnTest::Kiln(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env, const fs::path& cwd,
                           std::chrono::seconds timeout) {
  SpawnOptions options;
  options.argv = {KILN_BINARY};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  std::vector<std::string> environment;
  for (const std::string& entry : CurrentEnvironment()) {
    if (!entry.starts_with("KILN_")) environment.push_back(entry);
  }
  environment.push_back("KILN_HOME=" + home().string());
  environment.push_back("KILN_KILL_GRACE_SECONDS=2");
  for (const auto& [name, value] : env) environment.push_back(name + "=" + value);
  options.env = environment;
  options.cwd = cwd.empty() ? root() : cwd;
  const Result<CapturedRun> run =
      RunAndCapture(options, std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  EXPECT_TRUE(run.ok()) << run.status().ToString();
  return run.ok() ? *run : CapturedRun{};
}

nlohmann::json KilnTest::KilnJson(const std::vector<std::string>& args) {
  const CapturedRun run = Kiln(args);
  EXPECT_EQ(run.exit.code, 0) << run.err;
  const nlohmann::json parsed = nlohmann::json::parse(run.out, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << run.out;
  return parsed;
}

fs::path KilnTest::Project(const std::string& name,
                           const std::map<std::string, std::string>& files) {
  const fs::path folder = root() / name;
  EXPECT_TRUE(CreateDirectories(folder).ok());
  for (const auto& [path, contents] : files) {
    EXPECT_TRUE(CreateDirectories((folder / path).parent_path()).ok());
    EXPECT_TRUE(WriteFileAtomically(folder / path, contents).ok());
    if (contents.starts_with("#!")) ::chmod((folder / path).c_str(), 0755);
  }
  return folder;
}

fs::path KilnTest::MakeWheel(const std::string& module) {
  std::string name = module;
  std::replace(name.begin(), name.end(), '_', '-');
  const fs::path source =
      Project(module + "-src", {{module + "/__init__.py", "VALUE = 42\n"},
                                {"setup.py", fmt::format("from setuptools import setup\n"
                                                         "setup(name='{}', version='1.0', "
                                                         "packages=['{}'])\n",
                                                         name, module)}});
  const fs::path wheels = root() / "wheels";
  SpawnOptions options;
  options.argv = {"/usr/bin/python3",
                  "-m",
                  "pip",
                  "wheel",
                  "--no-deps",
                  "--no-build-isolation",
                  "--no-index",
                  "--disable-pip-version-check",
                  "-w",
                  wheels.string(),
                  "."};
  options.cwd = source;
  Result<CapturedRun> wheel = RunAndCapture(options, std::chrono::minutes(2));
  EXPECT_TRUE(wheel.ok() && wheel->exit.success()) << (wheel.ok() ? wheel->err : "");
  return wheels;
}

std::string KilnTest::SubmitOk(const std::vector<std::string>& args) {
  std::vector<std::string> submit = {"submit"};
  submit.insert(submit.end(), args.begin(), args.end());
  const CapturedRun run = Kiln(submit);
  EXPECT_EQ(run.exit.code, 0) << run.err;
  return FirstLine(run.out);
}

bool KilnTest::WaitForStatus(const std::string& run, const std::string& status,
                             std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const CapturedRun show = Kiln({"show", run, "--json"});
    const nlohmann::json json = nlohmann::json::parse(show.out, nullptr, false);
    if (!json.is_discarded() && json.value("status", "") == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::optional<int> KilnTest::LauncherPid(const std::string& run) const {
  const Result<std::string> text = ReadFileToString(RunDir(run) / "launcher.lock");
  if (!text.ok()) return std::nullopt;
  const std::optional<std::int64_t> pid = ParseInt64(TrimWhitespace(*text));
  if (!pid || *pid <= 0) return std::nullopt;
  return static_cast<int>(*pid);
}

std::size_t KilnTest::RunProcessCount(const std::string& run) const {
  return FindProcessesWithEnvironment("KILN_RUN_ID=" + run).size();
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace kiln::e2e
