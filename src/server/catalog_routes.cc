// /v1/experiments, /v1/datastores, /v1/compute-targets and /v1/snapshots.

#include <fmt/format.h>

#include <regex>

#include "client/local_target_view.h"
#include "common/strings.h"
#include "common/tunables.h"
#include "compute/targets.h"
#include "data/resolver.h"
#include "server/file_reply.h"
#include "server/routes.h"
#include "snapshot/manifest.h"
#include "snapshot/manifest_check.h"
#include "store/record_json.h"
#include "store/wire.h"

namespace kiln::server {

using nlohmann::json;

void AddCatalogRoutes(http::Listener& server, ServerState& state) {
  store::Store& store = state.workspace.store();

  server.Get("/v1/experiments", Json([&](const httplib::Request&) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const std::vector<store::Experiment> experiments,
                                     store.ListExperiments());
               return JsonList("experiments", experiments);
             }));

  // Registered targets; "local", the server's own machine, is always there besides.
  server.Get("/v1/compute-targets", Json([&](const httplib::Request&) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const std::vector<store::ComputeTargetRecord> targets,
                                     store.ListComputeTargets());
               return JsonList("compute_targets", targets);
             }));

  // A target is checked on the server's machine, which is the one that runs sbatch.
  server.Post("/v1/compute-targets",
              Json(
                  [&](const httplib::Request& request) -> Result<json> {
                    KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
                    KILN_ASSIGN_OR_RETURN(const store::ComputeTargetRecord target,
                                          store::wire::ComputeTargetFromJson(body));
                    KILN_RETURN_IF_ERROR(state.workspace.RegisterTarget(target));
                    KILN_ASSIGN_OR_RETURN(const store::ComputeTargetRecord stored,
                                          store.GetComputeTarget(target.name));
                    return store::ToJson(stored);
                  },
                  201));

  // A registered target's record; for "local", the server's own slots and who holds and
  // waits for them (client/local_target_view.h).
  server.Get(R"(/v1/compute-targets/([^/]+))",
             Json([&](const httplib::Request& request) -> Result<json> {
               if (request.matches[1].str() == "local") {
                 return client::LocalTargetView(launch::SlotQueue(state.workspace.local_queue()));
               }
               KILN_ASSIGN_OR_RETURN(const store::ComputeTargetRecord target,
                                     store.GetComputeTarget(request.matches[1].str()));
               return store::ToJson(target);
             }));

  server.Delete(R"(/v1/compute-targets/([^/]+))",
                Json([&](const httplib::Request& request) -> Result<json> {
                  KILN_RETURN_IF_ERROR(state.workspace.RemoveTarget(request.matches[1].str()));
                  return json::object();
                }));

  server.Get("/v1/datastores", Json([&](const httplib::Request&) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const std::vector<store::Datastore> datastores,
                                     store.ListDatastores());
               return JsonList("datastores", datastores);
             }));

  // A datastore is a folder on the server's machine (or the cluster's shared filesystem).
  server.Post(
      "/v1/datastores",
      Json(
          [&](const httplib::Request& request) -> Result<json> {
            KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
            KILN_ASSIGN_OR_RETURN(store::Datastore datastore, store::wire::DatastoreFromJson(body));
            if (!std::filesystem::path(datastore.path).is_absolute()) {
              return InvalidArgumentError(
                  fmt::format("--path: '{}' must be absolute on the server", datastore.path));
            }
            KILN_RETURN_IF_ERROR(data::RegisterDatastore(store, datastore.name, datastore.path));
            KILN_ASSIGN_OR_RETURN(datastore, store.GetDatastore(datastore.name));
            return store::ToJson(datastore);
          },
          201));

  server.Get(R"(/v1/datastores/([^/]+))",
             Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const store::Datastore datastore,
                                     store.GetDatastore(request.matches[1].str()));
               return store::ToJson(datastore);
             }));

  server.Delete(R"(/v1/datastores/([^/]+))",
                Json([&](const httplib::Request& request) -> Result<json> {
                  KILN_RETURN_IF_ERROR(store.RemoveDatastore(request.matches[1].str()));
                  return json::object();
                }));

  // A client offers a snapshot's manifest; the answer lists the contents the server lacks.
  // Once none are missing the manifest is stored and its id returned. The manifest is
  // checked whole (docs/snapshots.md) before anything is listed or stored, so a refused one
  // leaves nothing behind; the limits are the server's own, read once at start.
  const Result<snapshot::SnapshotLimits> configured = snapshot::LimitsFromEnvironment();
  const auto snapshot_limits = [configured]() -> Result<snapshot::SnapshotLimits> {
    if (!configured.ok()) return InternalError("the server's " + configured.status().message());
    return *configured;
  };
  server.Post(
      "/v1/snapshots", Json([&, snapshot_limits](const httplib::Request& request) -> Result<json> {
        KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
        if (!body.is_object() || !body.contains("manifest") || !body["manifest"].is_string()) {
          return InvalidArgumentError("the body needs 'manifest': the snapshot manifest's text");
        }
        const std::string& text = body["manifest"].get_ref<const std::string&>();
        const Result<snapshot::Manifest> manifest = snapshot::ParseManifest(text);
        if (!manifest.ok()) {
          return InvalidArgumentError(fmt::format("manifest: {}", manifest.status().message()));
        }
        KILN_ASSIGN_OR_RETURN(const snapshot::SnapshotLimits limits, snapshot_limits());
        KILN_RETURN_IF_ERROR(snapshot::CheckManifestLimits(*manifest, limits));
        KILN_RETURN_IF_ERROR(snapshot::CheckManifest(*manifest));
        const std::vector<std::string> missing = state.snapshots.MissingObjects(*manifest);
        json answer = {{"missing", missing}, {"id", nullptr}};
        if (missing.empty()) {
          KILN_ASSIGN_OR_RETURN(const std::string id, state.snapshots.AddManifest(text, limits));
          answer["id"] = id;
        }
        return answer;
      }));

  // One content of a snapshot; no single file may be larger than a whole snapshot.
  server.Put(
      R"(/v1/snapshots/objects/([0-9a-f]{64}))",
      Json([&, snapshot_limits](const httplib::Request& request) -> Result<json> {
        KILN_ASSIGN_OR_RETURN(const snapshot::SnapshotLimits limits, snapshot_limits());
        if (request.body.size() > limits.max_bytes) {
          return ResourceExhaustedError(
              fmt::format("object {} is {}, more than a whole snapshot may hold ({}; {} where the "
                          "server runs)",
                          request.matches[1].str(), HumanBytes(request.body.size()),
                          HumanBytes(limits.max_bytes), kSnapshotMaxMegabytes.env));
        }
        KILN_RETURN_IF_ERROR(state.snapshots.PutObject(request.matches[1].str(), request.body));
        return json::object();
      }));

  // A snapshot's manifest (docs/snapshots.md), and one file's bytes by its content hash:
  // the UI's code view and diffs read them.
  server.Get(R"(/v1/snapshots/([0-9a-f]{64}))",
             Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const snapshot::Manifest manifest,
                                     state.snapshots.ReadManifest(request.matches[1].str()));
               return json::parse(snapshot::SerializeManifest(manifest));
             }));
  server.Get(R"(/v1/snapshots/objects/([0-9a-f]{64}))", [&](const httplib::Request& request,
                                                            httplib::Response& response) {
    const std::string sha256 = request.matches[1].str();
    if (Status status = ReplyFile(response, state.snapshots.ObjectPath(sha256)); !status.ok()) {
      ReplyError(response, status.code() == StatusCode::kNotFound
                               ? NotFoundError(fmt::format("no snapshot file {}", sha256))
                               : status);
    }
  });
}

}  // namespace kiln::server
