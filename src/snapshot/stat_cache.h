#pragma once

// StatCache remembers the content hash of each file of one source folder by its stat
// identity (size, mtime, ctime, inode, device), so an unchanged file is never read again.
//
// A file changed within the same timestamp tick as the scan could keep its identity while
// its bytes change (git calls this "racy"); entries that recent are not cached.
// The cache is an optimisation only: a missing or damaged cache file is an empty cache,
// and concurrent writers leave one of their versions, either of which is correct.

#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "common/time.h"
#include "snapshot/source_scan.h"

namespace kiln::snapshot {

class StatCache {
 public:
  static constexpr std::int64_t kRacyWindowNanos = 2'000'000'000;

  // Reads the cache file; any problem gives an empty cache.
  static StatCache Load(const std::filesystem::path& file);

  // The cached hash when `file` has the identity it had when cached.
  std::optional<std::string> Lookup(const SourceFile& file) const;
  // Records a hash; ignored when the file changed too recently (see above) for
  // `scan_started_ns`, the wall-clock time the scan began.
  void Put(const SourceFile& file, const std::string& sha256, std::int64_t scan_started_ns);

  Status Save(const std::filesystem::path& file) const;

 private:
  struct Entry {
    SourceFile identity;
    std::string sha256;
  };
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace kiln::snapshot
