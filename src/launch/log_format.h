#pragma once

// One line of logs/rank-N.log (docs/run-directory.md):
//
//   2026-12-01T09:12:33.123456Z out epoch 1 loss 0.41
//   2026-12-01T09:12:33.123789Z err Traceback (most recent call last):
//
// the time the launcher read the line (UTC), the stream ("out" or "err"), one space, and the
// text exactly as the rank wrote it, without its newline.

#include <optional>
#include <string>
#include <string_view>

#include "common/time.h"

namespace kiln::launch {

enum class Stream { kOut, kErr };

struct LogLine {
  Timestamp at = 0;
  Stream stream = Stream::kOut;
  std::string text;
};

std::string FormatLogLine(Timestamp at, Stream stream, std::string_view text);
// nullopt for a line that is not in the format (e.g. written by hand).
std::optional<LogLine> ParseLogLine(std::string_view line);

}  // namespace kiln::launch
