#pragma once

// Writing a snapshot's entries into a folder without ever leaving it.
//
// Every step is relative to the folder above it, held open: a folder is made with mkdirat
// and entered with openat(O_DIRECTORY | O_NOFOLLOW); a file is created with
// openat(O_CREAT | O_EXCL | O_NOFOLLOW); a link with symlinkat. So a symbolic link on the
// way, whether a manifest entry or one planted in the destination by another process
// (a rank of another run writing there meanwhile), is refused, never followed: nothing is
// written or read outside the destination but the store's objects.

#include <filesystem>

#include "common/status.h"
#include "snapshot/manifest.h"
#include "snapshot/snapshot_store.h"

namespace kiln::snapshot {

// Writes `manifest`'s entries below the open folder `destination_fd` (named `destination`
// in messages), reading contents from `store`. Files get mode 0755 when executable and
// 0644 otherwise (never set-id bits), whatever the umask.
//
// Precondition: `manifest` passed CheckManifest(). Errors:
//   FailedPrecondition: a folder on an entry's way is a symbolic link or not a folder;
//   AlreadyExists: an entry's name is taken;
//   DataLoss: an object is missing from the store or of another size than its entry.
// What was written stays on failure; the caller removes it (SnapshotStore::Materialize).
Status MaterializeAt(const SnapshotStore& store, const Manifest& manifest, int destination_fd,
                     const std::filesystem::path& destination);

}  // namespace kiln::snapshot
