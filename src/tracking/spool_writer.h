#pragma once

// SpoolWriter appends one rank's metrics to its spool file (spool_format.h).
//
// The file is memory-mapped and grown in preallocated chunks, so logging a scalar is a copy
// into the page cache, with no system call: a record whose Log* call returned is in the
// kernel's hands and survives the process being killed (SIGKILL included). Like any page
// cache data it reaches the disk on the kernel's writeback schedule, so a machine that
// loses power within seconds of a log call can lose it; the launcher ingests it into the
// store long before that matters.
//
// Rules enforced at log time (InvalidArgument, nothing written): names are 1 to 255 bytes;
// values are finite; one name keeps one kind (scalar, list, row, table, image); JSON values
// are at most 64 MiB. FailedPrecondition when called from a forked child of the process
// that opened the spool (the two would write over each other).
//
// Thread-safe.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"
#include "common/time.h"
#include "common/unique_fd.h"
#include "tracking/spool_format.h"

namespace kiln::tracking {

class SpoolWriter {
 public:
  // Creates the spool, or continues an existing one after its last valid record.
  static Result<std::unique_ptr<SpoolWriter>> Open(const std::filesystem::path& path, int rank,
                                                   const Clock& clock = SystemClock());
  ~SpoolWriter();
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;

  // A scalar point. Without a step, the step is the number of points this name had.
  Status LogScalar(std::string_view name, double value, std::optional<std::int64_t> step = {},
                   std::string_view description = {});
  // A list, row, table or image, as its JSON text (the caller validated its shape).
  Status LogValue(std::string_view name, MetricKind kind, std::string_view json,
                  std::string_view description = {});
  Status Tag(std::string_view key, std::string_view value);

  // Bytes of valid records and header so far.
  std::uint64_t size() const;
  // Trims the preallocated tail. Logging afterwards fails.
  Status Close();

 private:
  struct NameInfo {
    std::uint32_t id = 0;
    MetricKind kind = MetricKind::kScalar;
    std::int64_t next_step = 0;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };

  SpoolWriter(UniqueFd fd, std::filesystem::path path, const Clock& clock)
      : fd_(std::move(fd)), path_(std::move(path)), clock_(clock) {}

  Status Resume();
  Status CheckWritable() const;
  Result<NameInfo*> Name(std::string_view name, MetricKind kind, std::string_view description);
  // Makes room for `bytes` more at the end, growing the file and the mapping.
  Status Reserve(std::size_t bytes);
  // Copies a framed record (length, crc, payload) in, length last.
  void Put(std::string_view framed);
  void Unmap();

  const UniqueFd fd_;
  const std::filesystem::path path_;
  const Clock& clock_;
  int fork_generation_ = 0;  // the process generation that may write (see CheckWritable)

  mutable std::mutex mu_;
  // Guarded by mu_.
  char* map_ = nullptr;
  std::size_t mapped_ = 0;
  std::size_t end_ = 0;  // where the next record goes
  bool closed_ = false;
  std::uint32_t next_name_id_ = 1;
  std::unordered_map<std::string, NameInfo, StringHash, std::equal_to<>> names_;
  // The scalar logged last (most calls repeat it); points into names_, whose nodes stay put.
  std::string last_scalar_;
  NameInfo* last_scalar_info_ = nullptr;
};

// Checks a metric name: 1 to 255 bytes.
Status ValidateMetricName(std::string_view name);

}  // namespace kiln::tracking
