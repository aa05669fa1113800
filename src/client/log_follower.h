#pragma once

// LogFollower reads a rank's log as it grows, handing out each complete line once, in the
// order the log holds them. The log may not exist yet (the run is still Queued); a partial
// last line waits for its newline. Where the bytes come from is the caller's: a file here,
// or a Kiln server (run_files.h).
//
// Memory stays bounded however long the log is: bytes are read kReadBytes at a time and a
// line longer than kMaxLineBytes (the launcher splits its lines far below that; a file
// written by hand may not) is handed out in pieces. Text that is not UTF-8 is handed out
// with U+FFFD in place of each bad byte (common/strings.h ValidUtf8), so every reader
// (CLI, JSON, SSE, the SDK) can show it.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "launch/log_format.h"

namespace kiln::client {

class LogFollower {
 public:
  // Returns up to `max_bytes` of the log from `offset`; empty when nothing follows yet.
  using ReadFrom = std::function<Result<std::string>(std::uint64_t offset, std::size_t max_bytes)>;

  static constexpr std::size_t kReadBytes = 256 * 1024;
  static constexpr std::size_t kMaxLineBytes = 1024 * 1024;

  // Starts at byte `offset` of the log, which must be the start of a line (an offset() of
  // an earlier follower).
  explicit LogFollower(ReadFrom read, std::uint64_t offset = 0)
      : read_(std::move(read)), consumed_(offset), read_offset_(offset) {}

  // The next complete line, left in place until Pop(); nullptr when no complete line follows
  // yet. The pointer is valid until the next call of any method. Lines not in the log format
  // come back as stdout text at time 0.
  Result<const launch::LogLine*> Peek();
  // Consumes and returns the line the last Peek() returned (which must not have been
  // nullptr).
  launch::LogLine Pop();

  // Up to `max_lines` lines added since the last call.
  Result<std::vector<launch::LogLine>> ReadNew(std::size_t max_lines);

  // The byte offset just past the last line consumed: where a new follower starts to go on.
  std::uint64_t offset() const { return consumed_; }

 private:
  ReadFrom read_;
  std::uint64_t consumed_;     // offset of the first byte not yet consumed
  std::uint64_t read_offset_;  // offset of the first byte not yet read
  // Bytes read: [consumed_, read_offset_) of the log from buffer_[start_] on.
  std::string buffer_;
  std::size_t start_ = 0;
  std::optional<launch::LogLine> next_;
  std::size_t next_bytes_ = 0;  // bytes of next_ in the log, its newline included
};

}  // namespace kiln::client
