#include "launch/log_format.h"

namespace kiln::launch {

namespace {
constexpr std::size_t kTimestampLength = 27;  // 2026-12-01T09:12:33.123456Z
constexpr std::size_t kStreamLength = 3;
}  // namespace

std::string FormatLogLine(Timestamp at, Stream stream, std::string_view text) {
  std::string line = FormatTimestamp(at);
  line += stream == Stream::kOut ? " out " : " err ";
  line += text;
  line += '\n';
  return line;
}

std::optional<LogLine> ParseLogLine(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (line.size() < kTimestampLength + kStreamLength + 2 || line[kTimestampLength] != ' ' ||
      line[kTimestampLength + kStreamLength + 1] != ' ') {
    return std::nullopt;
  }
  const std::optional<Timestamp> at = ParseTimestamp(line.substr(0, kTimestampLength));
  if (!at) return std::nullopt;
  const std::string_view stream = line.substr(kTimestampLength + 1, kStreamLength);
  LogLine parsed;
  parsed.at = *at;
  if (stream == "out") {
    parsed.stream = Stream::kOut;
  } else if (stream == "err") {
    parsed.stream = Stream::kErr;
  } else {
    return std::nullopt;
  }
  parsed.text = std::string(line.substr(kTimestampLength + kStreamLength + 2));
  return parsed;
}

}  // namespace kiln::launch
