#pragma once

// KilnTest: a fresh KILN_HOME for each test and a way to run the real kiln binary in it.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/subprocess.h"
#include "common/test_dir.h"

namespace kiln::e2e {

class KilnTest : public ::testing::Test {
 protected:
  KilnTest();

  // Runs `kiln args...` with KILN_HOME set to this test's home. `env` adds variables.
  CapturedRun Kiln(const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env = {},
                   const std::filesystem::path& cwd = {},
                   std::chrono::seconds timeout = std::chrono::seconds(120));
  // Runs kiln and parses its stdout as JSON (failing the test when it is not).
  nlohmann::json KilnJson(const std::vector<std::string>& args);

  // Writes files (path -> contents) under a new folder of the test and returns it.
  std::filesystem::path Project(const std::string& name,
                                const std::map<std::string, std::string>& files);

  // Builds a wheel of a pure-Python package `module` (VALUE = 42; its distribution name has
  // '-' for '_', version 1.0) into root()/wheels, with the system's setuptools; returns
  // that folder, for pip_find_links.
  std::filesystem::path MakeWheel(const std::string& module);

  // Submits and returns the run id (the first line of stdout); fails the test on error.
  std::string SubmitOk(const std::vector<std::string>& args);
  // Polls `kiln show` until the run has `status` (or the timeout passes).
  bool WaitForStatus(const std::string& run, const std::string& status,
                     std::chrono::seconds timeout = std::chrono::seconds(60));
  // Processes carrying the run's marker variable.
  std::size_t RunProcessCount(const std::string& run) const;
  // The pid the run's launcher recorded in its launcher.lock; nullopt before it did.
  std::optional<int> LauncherPid(const std::string& run) const;

  std::filesystem::path home() const { return dir_.path() / "home"; }
  std::filesystem::path root() const { return dir_.path(); }
  std::filesystem::path RunDir(const std::string& run) const { return home() / "runs" / run; }

 private:
  TestDir dir_;
};

std::string FirstLine(const std::string& text);

}  // namespace kiln::e2e
