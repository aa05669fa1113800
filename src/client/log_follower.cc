#include "client/log_follower.h"

#include "common/strings.h"

namespace kiln::client {

Result<const launch::LogLine*> LogFollower::Peek() {
  if (next_) return static_cast<const launch::LogLine*>(&*next_);
  std::size_t newline = buffer_.find('\n', start_);
  while (newline == std::string::npos && buffer_.size() - start_ < kMaxLineBytes) {
    KILN_ASSIGN_OR_RETURN(const std::string bytes, read_(read_offset_, kReadBytes));
    if (bytes.empty()) return static_cast<const launch::LogLine*>(nullptr);
    read_offset_ += bytes.size();
    // Consumed lines leave the buffer only here, once per read, not once per line.
    buffer_.erase(0, start_);
    start_ = 0;
    const std::size_t searched = buffer_.size();
    buffer_ += bytes;
    newline = buffer_.find('\n', searched);
  }
  // A line past kMaxLineBytes is handed out in pieces of that size.
  const std::size_t length = newline == std::string::npos ? kMaxLineBytes : newline - start_;
  next_bytes_ = newline == std::string::npos ? kMaxLineBytes : length + 1;
  const std::string_view line(buffer_.data() + start_, length);
  if (std::optional<launch::LogLine> parsed = launch::ParseLogLine(line)) {
    next_ = std::move(parsed);
    next_->text = ValidUtf8(next_->text);
  } else {
    next_ = launch::LogLine{0, launch::Stream::kOut, ValidUtf8(line)};
  }
  return static_cast<const launch::LogLine*>(&*next_);
}

launch::LogLine LogFollower::Pop() {
  launch::LogLine line = std::move(*next_);
  start_ += next_bytes_;
  consumed_ += next_bytes_;
  next_.reset();
  next_bytes_ = 0;
  return line;
}

Result<std::vector<launch::LogLine>> LogFollower::ReadNew(std::size_t max_lines) {
  std::vector<launch::LogLine> lines;
  while (lines.size() < max_lines) {
    KILN_ASSIGN_OR_RETURN(const launch::LogLine* line, Peek());
    if (line == nullptr) break;
    lines.push_back(Pop());
  }
  return lines;
}

}  // namespace kiln::client
