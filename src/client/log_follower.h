#pragma once

// LogFollower reads a rank's log file as it grows, returning each complete line once. The
// file may not exist yet (the run is still Queued); a partial last line waits for its
// newline.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"
#include "launch/log_format.h"

namespace kiln::client {

class LogFollower {
 public:
  explicit LogFollower(std::filesystem::path path) : path_(std::move(path)) {}

  // Lines added since the last call. Lines not in the log format are returned as stdout
  // text at time 0.
  Result<std::vector<launch::LogLine>> ReadNew();

 private:
  std::filesystem::path path_;
  std::uint64_t offset_ = 0;
  std::string partial_;
};

}  // namespace kiln::client
