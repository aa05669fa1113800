#pragma once

// SnapshotStore: content-addressed copies of source folders.
//
// Layout under the root (docs/snapshots.md):
//   objects/ab/cdef...   one file per distinct content, named by its SHA-256
//   manifests/<id>.json  one per snapshot; <id> is the SHA-256 of the manifest's text
//   cache/<key>.tsv      stat cache per source folder (stat_cache.h)
//   tmp/                 files being written; renamed into place when complete
//
// Create() stores only contents the store lacks and re-reads only files whose stat identity
// changed, so snapshotting an unchanged folder reads no file. Objects and manifests are
// written to tmp/ and renamed, so a reader never sees a partial one, and are flushed to
// disk before the manifest that names them appears.
//
// Thread-safe and safe across processes: concurrent writers of the same content rename
// identical files over each other. An object found present is touched (its mtime made now),
// so `kiln gc`'s minimum age keeps it while the snapshot that found it is being made.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include "common/result.h"
#include "snapshot/manifest.h"
#include "snapshot/source_scan.h"

namespace kiln::snapshot {

struct SnapshotInfo {
  std::string id;
  std::uint64_t file_count = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t files_hashed = 0;  // files read this time (stat cache misses)
  std::uint64_t bytes_stored = 0;  // bytes of contents new to the store
};

class SnapshotStore {
 public:
  explicit SnapshotStore(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }

  // Creates the store's folders. FailedPrecondition, naming the folder and what to do, when
  // this user cannot write there (a read-only KILN_HOME): a fault of the store, not of any
  // source directory.
  Status Prepare() const;

  // Snapshots `scan.root`; `scan` must come from ScanSource() and pass CheckLimits().
  // A file that vanishes or changes while being read is an Unavailable error (try again).
  Result<SnapshotInfo> Create(const SourceScan& scan);

  // Receiving a snapshot taken elsewhere (a client of a Kiln server), in three steps:
  // the manifest's contents the store lacks, each of them stored by PutObject(), then the
  // manifest itself, which AddManifest() accepts only once every content is present. A
  // receiver checks the manifest (CheckManifest, CheckManifestLimits) before the first
  // step, so a refused manifest leaves nothing behind.
  //
  // The hashes named by `manifest`'s files that have no object here, each once.
  // Precondition: `manifest` passed CheckManifest().
  std::vector<std::string> MissingObjects(const Manifest& manifest) const;
  // Stores `bytes` as the object `sha256`; InvalidArgument when `sha256` is not 64
  // lowercase hex digits or the bytes hash otherwise.
  Status PutObject(std::string_view sha256, std::string_view bytes);
  // Stores a manifest received as text and returns its id, after every check: InvalidArgument
  // for text that is not a manifest, an entry CheckManifest() refuses, or a file whose
  // object is missing or of another size; ResourceExhausted past `limits`. Nothing is
  // written unless it is accepted.
  Result<std::string> AddManifest(std::string_view serialized, const SnapshotLimits& limits);

  // InvalidArgument for an id that is not 64 lowercase hex digits; NotFound for an unknown
  // one; DataLoss for a damaged manifest.
  Result<Manifest> ReadManifest(std::string_view id) const;

  // Writes the snapshot's files under `destination`, which must not exist or be an empty
  // folder (not a link to one: FailedPrecondition), never through a symbolic link
  // (materialize.h). On failure, what was written is removed again.
  Status Materialize(std::string_view id, const std::filesystem::path& destination) const;

  // `kiln gc`: removes manifests not in `keep` and objects no remaining manifest names,
  // each only when older than `min_age` (a snapshot being sent or made is younger), and
  // leftovers in tmp/. With `dry_run`, counts what it would remove. The caller keeps new
  // snapshots from being made meanwhile on this machine (client/gc.h's lock).
  struct Collected {
    std::size_t manifests = 0;
    std::size_t objects = 0;
    std::uint64_t bytes = 0;
  };
  Result<Collected> Collect(const std::set<std::string>& keep, std::chrono::seconds min_age,
                            bool dry_run) const;

  std::filesystem::path ObjectPath(std::string_view sha256) const;
  std::filesystem::path ManifestPath(std::string_view id) const;

 private:
  // Copies `file` into the store while hashing it; returns the hash.
  Result<std::string> StoreObject(const SourceScan& scan, const SourceFile& file,
                                  std::uint64_t& bytes_stored);

  std::filesystem::path root_;
};

}  // namespace kiln::snapshot
