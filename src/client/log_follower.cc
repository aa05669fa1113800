#include "client/log_follower.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"

namespace kiln::client {

Result<std::vector<launch::LogLine>> LogFollower::ReadNew() {
  std::vector<launch::LogLine> lines;
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return lines;
    return ErrnoError(fmt::format("cannot open {}", path_.string()), errno);
  }
  char buffer[64 * 1024];
  while (true) {
    const ssize_t n = ::pread(fd.get(), buffer, sizeof(buffer), static_cast<off_t>(offset_));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(fmt::format("cannot read {}", path_.string()), errno);
    }
    if (n == 0) break;
    offset_ += static_cast<std::uint64_t>(n);
    partial_.append(buffer, static_cast<std::size_t>(n));
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
  }
  return lines;
}

}  // namespace kiln::client
