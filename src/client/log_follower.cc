#include "client/log_follower.h"

namespace kiln::client {

namespace {
constexpr std::size_t kReadBytes = 1 << 20;
}  // namespace

Result<std::vector<launch::LogLine>> LogFollower::ReadNew() {
  std::vector<launch::LogLine> lines;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const std::string bytes, read_(offset_, kReadBytes));
    if (bytes.empty()) break;
    offset_ += bytes.size();
    partial_ += bytes;
    std::size_t start = 0;
    std::size_t newline = 0;
    while ((newline = partial_.find('\n', start)) != std::string::npos) {
      const std::string_view line(partial_.data() + start, newline - start);
      if (auto parsed = launch::ParseLogLine(line)) {
        lines.push_back(std::move(*parsed));
      } else {
        lines.push_back({0, launch::Stream::kOut, std::string(line)});
      }
      start = newline + 1;
    }
    partial_.erase(0, start);
    if (bytes.size() < kReadBytes) break;
  }
  return lines;
}

}  // namespace kiln::client
