#pragma once

// Submitting to a Kiln server (docs/server.md, "Submitting"):
// 1. The source folder is snapshotted here, into the local snapshot store (so an unchanged
//    folder is not even read again).
// 2. The manifest goes to the server (POST /v1/snapshots), which answers with the contents
//    it lacks; only those are sent (PUT /v1/snapshots/objects/{sha256}), then the manifest
//    again, which the server now stores.
// 3. The job (POST /v1/runs): the spec, the snapshot id and where each field came from, so
//    the server words its errors as "job.yaml: compute_target: ..." too.
// A failure before 3 creates nothing on the server but contents, which are shared by hash.

#include "client/submit.h"
#include "client/workspace.h"
#include "common/result.h"
#include "spec/spec_loader.h"

namespace kiln::client {

// `workspace.server()` must be set. The result's snapshot.bytes_stored counts the bytes
// sent to the server.
Result<SubmitResult> SubmitToServer(Workspace& workspace, const spec::LoadedJob& job);

// Steps 1 and 2 alone: the job's source is on the server as the returned snapshot, which a
// request may name (a sweep's, POST /v1/sweeps).
Result<snapshot::SnapshotInfo> SendSnapshot(Workspace& workspace, const spec::LoadedJob& job);

// Step 2 alone, for a snapshot already in the local snapshot store (a deployment's
// scoring-script folder): returns the bytes sent.
Result<std::uint64_t> SendLocalSnapshot(Workspace& workspace, const std::string& id);

}  // namespace kiln::client
