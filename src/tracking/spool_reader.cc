#include "tracking/spool_reader.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"

namespace kiln::tracking {
namespace {
constexpr std::size_t kReadBytes = 4u << 20;
}  // namespace

Result<SpoolChunk> SpoolReader::Read(std::uint64_t offset, bool final, std::size_t max_records,
                                     std::uint64_t stop_at) {
  std::vector<Record> records;
  KILN_ASSIGN_OR_RETURN(SpoolChunk chunk, Scan(
                                              offset, final, max_records,
                                              [&](Record&& record) {
                                                records.push_back(std::move(record));
                                                return Status::Ok();
                                              },
                                              stop_at));
  chunk.records = std::move(records);
  return chunk;
}

Result<SpoolChunk> SpoolReader::Scan(std::uint64_t offset, bool final, std::size_t max_records,
                                     const std::function<Status(Record&&)>& visit,
                                     std::uint64_t stop_at) {
  SpoolChunk chunk;
  chunk.end_offset = offset;
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return chunk;
    return ErrnoError(fmt::format("cannot open metric spool {}", path_.string()), errno);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return ErrnoError(fmt::format("cannot stat {}", path_.string()), errno);
  }
  const auto file_size = static_cast<std::uint64_t>(info.st_size);
  const auto read_at = [&](std::uint64_t at, std::size_t bytes, std::string& into) -> Status {
    into.resize(bytes);
    std::size_t done = 0;
    while (done < bytes) {
      const ssize_t n =
          ::pread(fd.get(), into.data() + done, bytes - done, static_cast<off_t>(at + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(fmt::format("cannot read {}", path_.string()), errno);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    into.resize(done);
    return Status::Ok();
  };

  std::string buffer;
  if (offset == 0) {
    if (file_size < kSpoolHeaderBytes) {
      if (final && file_size > 0) chunk.torn_bytes = file_size;
      return chunk;  // The header is still being written.
    }
    KILN_RETURN_IF_ERROR(read_at(0, kSpoolHeaderBytes, buffer));
    Result<int> rank = DecodeSpoolHeader(buffer);
    if (!rank.ok()) return rank.status().WithPrefix(path_.string());
    chunk.rank = *rank;
    chunk.end_offset = kSpoolHeaderBytes;
  }

  std::string pending;  // bytes read from the file, from `pos` on not yet decoded
  std::size_t pos = 0;
  std::uint64_t next_read = chunk.end_offset;
  std::size_t visited = 0;
  while (visited < max_records && chunk.end_offset < stop_at) {
    Decoded decoded;
    const DecodeOutcome outcome = DecodeRecord(std::string_view(pending).substr(pos), decoded);
    if (outcome == DecodeOutcome::kRecord) {
      KILN_RETURN_IF_ERROR(visit(std::move(decoded.record)));
      ++visited;
      chunk.end_offset += decoded.size;
      pos += decoded.size;
      continue;
    }
    if (outcome == DecodeOutcome::kShort && next_read < file_size) {
      pending.erase(0, pos);
      pos = 0;
      KILN_RETURN_IF_ERROR(read_at(next_read, kReadBytes, buffer));
      if (buffer.empty()) break;  // The file shrank since fstat (the writer trimmed it).
      next_read += buffer.size();
      pending += buffer;
      continue;
    }
    if (final && (outcome == DecodeOutcome::kTorn || outcome == DecodeOutcome::kShort) &&
        pos < pending.size()) {
      // The writer is gone: what follows the last valid record is a torn write.
      chunk.torn_bytes = file_size - chunk.end_offset;
    }
    break;
  }
  return chunk;
}

}  // namespace kiln::tracking
