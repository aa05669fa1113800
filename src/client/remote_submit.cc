#include "client/remote_submit.h"

#include <fmt/format.h>

#include "common/files.h"
#include "compute/local/local_target.h"
#include "snapshot/manifest.h"
#include "snapshot/snapshot_store.h"
#include "spec/spec_json.h"
#include "store/wire.h"

namespace kiln::client {

using nlohmann::json;

namespace {

// Sends the manifest; returns the contents the server still lacks.
Result<std::vector<std::string>> OfferManifest(store::http::ApiClient& api,
                                               const std::string& manifest) {
  KILN_ASSIGN_OR_RETURN(const json answer, api.Post("/v1/snapshots", {{"manifest", manifest}}));
  if (!answer.contains("missing") || !answer["missing"].is_array()) {
    return DataLossError("the server's answer to POST /v1/snapshots has no 'missing' list");
  }
  return answer["missing"].get<std::vector<std::string>>();
}

}  // namespace

Result<std::uint64_t> SendLocalSnapshot(Workspace& workspace, const std::string& id) {
  store::http::ApiClient& api = *workspace.server();
  const snapshot::SnapshotStore local(workspace.snapshots_root());
  KILN_ASSIGN_OR_RETURN(const snapshot::Manifest manifest, local.ReadManifest(id));
  const std::string text = snapshot::SerializeManifest(manifest);

  KILN_ASSIGN_OR_RETURN(const std::vector<std::string> missing, OfferManifest(api, text));
  std::uint64_t sent = 0;
  for (const std::string& sha256 : missing) {
    KILN_ASSIGN_OR_RETURN(const std::string bytes, ReadFileToString(local.ObjectPath(sha256)));
    KILN_RETURN_IF_ERROR(
        api.PutBytes(fmt::format("/v1/snapshots/objects/{}", sha256), bytes).status());
    sent += bytes.size();
  }
  if (!missing.empty()) {
    KILN_ASSIGN_OR_RETURN(const std::vector<std::string> still, OfferManifest(api, text));
    if (!still.empty()) {
      return UnavailableError(fmt::format(
          "the server still lacks {} contents of the snapshot; submit again", still.size()));
    }
  }
  return sent;
}

Result<snapshot::SnapshotInfo> SendSnapshot(Workspace& workspace, const spec::LoadedJob& job) {
  KILN_ASSIGN_OR_RETURN(snapshot::SnapshotInfo snapshot, TakeSnapshot(workspace, job));
  KILN_ASSIGN_OR_RETURN(snapshot.bytes_stored, SendLocalSnapshot(workspace, snapshot.id));
  return snapshot;
}

Result<SubmitResult> SubmitToServer(Workspace& workspace, const spec::LoadedJob& job) {
  store::http::ApiClient& api = *workspace.server();
  KILN_ASSIGN_OR_RETURN(const snapshot::SnapshotInfo snapshot, SendSnapshot(workspace, job));
  const json request = {
      {"spec", spec::SpecToJson(job.spec)},
      {"snapshot_id", snapshot.id},
      {"host", compute::LocalHostName()},
      {"source",
       {{"file", job.source.file_label()},
        {"flag_fields", job.source.flag_fields()},
        {"flag_params", job.source.flag_params()}}},
  };
  KILN_ASSIGN_OR_RETURN(const json answer, api.Post("/v1/runs", request));
  KILN_ASSIGN_OR_RETURN(store::Run run, store::wire::RunFromJson(answer));
  return SubmitResult{std::move(run), snapshot};
}

}  // namespace kiln::client
