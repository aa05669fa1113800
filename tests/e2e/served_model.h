#pragma once

// ServedModel: `kiln serve MODEL --port 0 args...` in a test's KILN_HOME, as a child of the
// test; stopping it (SIGTERM) expects a clean exit.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/subprocess.h"

namespace kiln::e2e {

class ServedModel {
 public:
  // `env`: more "NAME=value" entries (KILN_SERVER and KILN_TOKEN, to serve a server's model).
  ServedModel(const std::filesystem::path& home, const std::string& model,
              const std::vector<std::string>& args = {}, const std::vector<std::string>& env = {});
  ~ServedModel() { Stop(); }
  ServedModel(const ServedModel&) = delete;
  ServedModel& operator=(const ServedModel&) = delete;

  // Empty when it did not start (the test has failed then).
  const std::string& url() const { return url_; }
  void Stop();

 private:
  std::optional<Subprocess> process_;
  std::string url_;
};

}  // namespace kiln::e2e
