#pragma once

// Scanning a source folder: which files a snapshot of it would hold, with the stat
// identity the stat cache keys on. Nothing is read but folders and ignore files.
//
// Besides the ignore files (ignore_rules.h), two rules always apply: folders named `.git`
// are skipped, and so is `outputs/` at the top (the run's own artifact folder).
// Sockets, FIFOs and devices are skipped; empty folders are not recorded.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"
#include "snapshot/manifest.h"

namespace kiln::snapshot {

struct SourceFile {
  std::string path;  // relative, '/'-separated
  EntryKind kind = EntryKind::kFile;
  bool executable = false;
  std::uint64_t size = 0;
  std::string link_target;
  // Stat identity: a file whose identity is unchanged is taken to hold the same bytes.
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t inode = 0;
  std::uint64_t device = 0;
};

struct SourceScan {
  std::filesystem::path root;     // absolute
  std::vector<SourceFile> files;  // sorted by path
  std::uint64_t total_bytes = 0;
};

struct SnapshotLimits {
  std::uint64_t max_bytes = 0;
  std::uint64_t max_files = 0;
};

// The limits from KILN_SNAPSHOT_MAX_MB and KILN_SNAPSHOT_MAX_FILES.
Result<SnapshotLimits> LimitsFromEnvironment();

// NotFound when `root` is missing; Internal for unreadable folders; InvalidArgument for a
// file, folder or link target the scan would include whose name is not UTF-8, holds a
// control character or breaks the other rules of entry_path.h, with its path (bytes
// escaped) and the ignore line that would leave it out.
Result<SourceScan> ScanSource(const std::filesystem::path& root);

// ResourceExhausted when the scan is over a limit, with a message that lists the largest
// entries and files and says how to ignore them.
Status CheckLimits(const SourceScan& scan, const SnapshotLimits& limits);

}  // namespace kiln::snapshot
