#pragma once

// Manifest: the list of what one snapshot holds. Its canonical JSON text is hashed to give
// the snapshot id, so the same tree always has the same id. docs/snapshots.md documents
// the format.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kiln::snapshot {

inline constexpr int kManifestVersion = 1;

enum class EntryKind { kFile, kSymlink };

struct ManifestEntry {
  std::string path;  // relative, '/'-separated
  EntryKind kind = EntryKind::kFile;
  bool executable = false;  // files: materialized as 0755, otherwise 0644
  std::uint64_t size = 0;   // files: bytes
  std::string sha256;       // files: content hash, the object's name
  std::string link_target;  // symlinks: the link's text

  friend bool operator==(const ManifestEntry&, const ManifestEntry&) = default;
};

struct Manifest {
  std::vector<ManifestEntry> entries;  // sorted by path

  std::uint64_t total_bytes() const;
  std::size_t file_count() const { return entries.size(); }
};

// Canonical text: keys sorted, no whitespace, entries in path order. Precondition: paths
// and link targets are UTF-8 (ScanSource and CheckManifest ensure it).
std::string SerializeManifest(const Manifest& manifest);
// DataLoss when the text is not a manifest this version reads: not JSON, another version,
// a key missing, unknown or of the wrong type (a size must be a whole number >= 0), named
// with the entry ("entries[3] 'a.py': ..."). Says nothing of what the paths name:
// CheckManifest (manifest_check.h) does.
Result<Manifest> ParseManifest(std::string_view text);
// The snapshot id of a serialized manifest: its SHA-256 in hex.
std::string ManifestId(std::string_view serialized);
// True for 64 lowercase hex digits: a content hash, or a snapshot id.
bool IsSha256Hex(std::string_view text);

}  // namespace kiln::snapshot
