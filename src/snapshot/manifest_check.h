#pragma once

// Checking a manifest that came from elsewhere (a client of a Kiln server, or a manifest
// file read back from the store) before anything is made from it. ParseManifest() checks
// its shape; these check what it names.

#include "common/status.h"
#include "snapshot/manifest.h"
#include "snapshot/source_scan.h"

namespace kiln::snapshot {

// InvalidArgument naming the first bad entry ("entries[3] 'a/../b': ..."), when
//   - a path breaks EntryPathProblem() (entry_path.h), or is `outputs` at the top (the run's
//     artifact folder, never part of a snapshot);
//   - paths are not in strictly increasing byte order (a duplicate names both places);
//   - an entry lies below another entry: below a symlink it would be written through the
//     link, below a file it cannot exist;
//   - a file's sha256 is not 64 lowercase hex digits;
//   - a symlink's target is empty, longer than kMaxPathBytes, or breaks TextProblem().
// A symlink's target may point anywhere: it is recreated as a link and never followed.
Status CheckManifest(const Manifest& manifest);

// ResourceExhausted when the manifest holds more files (files and links) or bytes than
// `limits` allow, naming the largest file.
Status CheckManifestLimits(const Manifest& manifest, const SnapshotLimits& limits);

}  // namespace kiln::snapshot
