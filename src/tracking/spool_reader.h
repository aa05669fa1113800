#pragma once

// SpoolReader reads a spool (spool_format.h) from a byte offset, as far as its records are
// valid. The launcher reads a live spool this way while the rank writes it, so the end may
// hold a record still being written: it is left for the next read, unless the caller says
// the writer is gone (`final`), when a damaged tail is reported as torn and skipped.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "common/result.h"
#include "tracking/spool_format.h"

namespace kiln::tracking {

struct SpoolChunk {
  std::vector<Record> records;
  std::uint64_t end_offset = 0;  // after the last valid record: where the next read starts
  int rank = 0;
  // Only when `final`: bytes after end_offset that are not a valid record (a torn write).
  std::uint64_t torn_bytes = 0;
};

class SpoolReader {
 public:
  explicit SpoolReader(std::filesystem::path path) : path_(std::move(path)) {}

  // Like Read(), but hands each record to `visit` instead of keeping it (the ingestor's
  // path: no record is stored twice). The returned chunk has no records.
  Result<SpoolChunk> Scan(std::uint64_t offset, bool final, std::size_t max_records,
                          const std::function<Status(Record&&)>& visit,
                          std::uint64_t stop_at = UINT64_MAX);

  // Records from `offset` (0 reads and checks the header first), at most `max_records`, and
  // none that starts at or after `stop_at`. A missing file reads as empty. DataLoss for a
  // file that is not a spool.
  Result<SpoolChunk> Read(std::uint64_t offset, bool final, std::size_t max_records = SIZE_MAX,
                          std::uint64_t stop_at = UINT64_MAX);

 private:
  std::filesystem::path path_;
};

}  // namespace kiln::tracking
