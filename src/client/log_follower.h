#pragma once

// LogFollower reads a rank's log as it grows, returning each complete line once. The log
// may not exist yet (the run is still Queued); a partial last line waits for its newline.
// Where the bytes come from is the caller's: a file here, or a Kiln server (run_files.h).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "launch/log_format.h"

namespace kiln::client {

class LogFollower {
 public:
  // Returns up to `max_bytes` of the log from `offset`; empty when nothing follows yet.
  using ReadFrom = std::function<Result<std::string>(std::uint64_t offset, std::size_t max_bytes)>;

  explicit LogFollower(ReadFrom read) : read_(std::move(read)) {}

  // Lines added since the last call. Lines not in the log format are returned as stdout
  // text at time 0.
  Result<std::vector<launch::LogLine>> ReadNew();

 private:
  ReadFrom read_;
  std::uint64_t offset_ = 0;
  std::string partial_;
};

}  // namespace kiln::client
