#pragma once

// RankLog turns the bytes a rank writes to stdout and stderr into timestamped lines in
// logs/rank-N.log, and keeps the last lines for a failure report.
//
// Each complete line is written with one write() to a file opened O_APPEND, as soon as it
// arrives, so readers following the file see whole lines without delay. A partial line is
// held until its newline comes, it grows past kMaxLineBytes, it has waited kPartialFlush,
// or the stream ends. Not thread-safe: the launcher's loop owns it.

#include <chrono>
#include <deque>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "common/unique_fd.h"
#include "launch/log_format.h"

namespace kiln::launch {

class RankLog {
 public:
  static constexpr std::size_t kMaxLineBytes = 64 * 1024;
  static constexpr std::size_t kTailLines = 20;
  static constexpr std::chrono::milliseconds kPartialFlush{1000};

  static Result<RankLog> Open(const std::filesystem::path& path, const Clock& clock);

  // Appends bytes read from one stream.
  Status Write(Stream stream, std::string_view bytes);
  // Writes partial lines that have waited too long (call on each loop tick).
  Status FlushStale();
  // Writes every partial line (the streams ended).
  Status FlushAll();

  // The last kTailLines lines of text, oldest first, as valid UTF-8 (U+FFFD for each byte
  // that is not): they go into JSON (the store, exit records).
  std::vector<std::string> Tail() const;

 private:
  struct Pending {
    std::string text;
    std::int64_t since_micros = 0;
  };
  RankLog(UniqueFd fd, std::filesystem::path path, const Clock& clock)
      : fd_(std::move(fd)), path_(std::move(path)), clock_(&clock) {}
  // Writes `text` as one line, or several when it is longer than kMaxLineBytes.
  Status Emit(Stream stream, std::string_view text);
  Status EmitLine(Stream stream, std::string_view text);
  Pending& PendingFor(Stream stream) { return stream == Stream::kOut ? out_ : err_; }

  UniqueFd fd_;
  std::filesystem::path path_;
  const Clock* clock_;
  Pending out_;
  Pending err_;
  std::deque<std::string> tail_;
};

}  // namespace kiln::launch
