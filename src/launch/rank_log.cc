#include "launch/rank_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>

#include "common/files.h"
#include "common/strings.h"

namespace kiln::launch {

Result<RankLog> RankLog::Open(const std::filesystem::path& path, const Clock& clock) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd) return ErrnoError(fmt::format("cannot open log {}", path.string()), errno);
  return RankLog(std::move(fd), path, clock);
}

Status RankLog::Emit(Stream stream, std::string_view text) {
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  while (text.size() > kMaxLineBytes) {
    KILN_RETURN_IF_ERROR(EmitLine(stream, text.substr(0, kMaxLineBytes)));
    text.remove_prefix(kMaxLineBytes);
  }
  return EmitLine(stream, text);
}

Status RankLog::EmitLine(Stream stream, std::string_view text) {
  KILN_RETURN_IF_ERROR(WriteAll(fd_.get(), FormatLogLine(clock_->Now(), stream, text), path_));
  tail_.emplace_back(text);
  if (tail_.size() > kTailLines) tail_.pop_front();
  return Status::Ok();
}

Status RankLog::Write(Stream stream, std::string_view bytes) {
  Pending& pending = PendingFor(stream);
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      if (pending.text.empty()) pending.since_micros = clock_->MonotonicMicros();
      pending.text.append(bytes);
      while (pending.text.size() >= kMaxLineBytes) {
        KILN_RETURN_IF_ERROR(Emit(stream, std::string_view(pending.text).substr(0, kMaxLineBytes)));
        pending.text.erase(0, kMaxLineBytes);
      }
      return Status::Ok();
    }
    if (pending.text.empty()) {
      KILN_RETURN_IF_ERROR(Emit(stream, bytes.substr(0, newline)));
    } else {
      pending.text.append(bytes.substr(0, newline));
      KILN_RETURN_IF_ERROR(Emit(stream, pending.text));
      pending.text.clear();
    }
    bytes.remove_prefix(newline + 1);
  }
  return Status::Ok();
}

Status RankLog::FlushStale() {
  const std::int64_t now = clock_->MonotonicMicros();
  for (Stream stream : {Stream::kOut, Stream::kErr}) {
    Pending& pending = PendingFor(stream);
    if (!pending.text.empty() &&
        now - pending.since_micros >= std::chrono::microseconds(kPartialFlush).count()) {
      KILN_RETURN_IF_ERROR(Emit(stream, pending.text));
      pending.text.clear();
    }
  }
  return Status::Ok();
}

Status RankLog::FlushAll() {
  for (Stream stream : {Stream::kOut, Stream::kErr}) {
    Pending& pending = PendingFor(stream);
    if (!pending.text.empty()) {
      KILN_RETURN_IF_ERROR(Emit(stream, pending.text));
      pending.text.clear();
    }
  }
  return Status::Ok();
}

std::vector<std::string> RankLog::Tail() const {
  std::vector<std::string> lines;
  for (const std::string& line : tail_) lines.push_back(ValidUtf8(line));
  return lines;
}

}  // namespace kiln::launch
