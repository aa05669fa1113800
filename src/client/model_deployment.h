#pragma once

// Deployments: how a registered model version is served with a scoring script
// (`kiln model deploy`, Model.deploy; docs/serving.md, "Scoring scripts").
//
// Deploying, in order (nothing is recorded until every step has passed):
//   1. the script is checked where it is: a .py file inside its folder (the folder that
//      holds it, or --source-directory), that parses and defines init() and run() at its
//      top level (kiln/_score_worker.py --check reads it with Python's ast: nothing of it
//      runs);
//   2. the folder is snapshotted like a job's source (.kilnignore, the size limits; the
//      script must not be ignored) and, with a Kiln server, the contents it lacks are sent;
//   3. RecordDeployment, here or on the server: the version exists, the snapshot holds the
//      script, the environment is registered (NAME is its latest version; the deployment
//      keeps NAME:VERSION and the definition, so registering a new version later does not
//      change what serves); stored in one call, replacing the version's earlier deployment.
// A version's deployment goes when the version is removed.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "client/workspace.h"
#include "common/result.h"
#include "store/records.h"

namespace kiln::client {

struct DeploymentRequest {
  std::string model;         // NAME[:VERSION]; the latest version by default
  std::string entry_script;  // relative to source_directory, or a path when that is empty
  std::filesystem::path source_directory;  // empty: the entry script's folder
  std::string environment;                 // a registered environment, NAME[:VERSION]; empty: none
};

// Steps 1 to 3. InvalidArgument for a script or folder that does not qualify (saying
// what is wrong), NotFound for an unknown model, version or environment.
Result<store::ModelVersion> DeployModel(Workspace& workspace, const DeploymentRequest& request);

// Steps 1 and 2 alone (`kiln serve --entry-script` serves a script it does not record):
// the script's path in the snapshot, and the snapshot in the local store.
struct ScriptSnapshot {
  std::string entry_script;
  std::string snapshot_id;
};
Result<ScriptSnapshot> SnapshotScript(Workspace& workspace, const DeploymentRequest& request);

// Step 3, on the workspace's own store (the server runs it for POST .../deployment):
// `version` 0 is the latest.
Result<store::ModelVersion> RecordDeployment(Workspace& workspace, std::string_view name,
                                             std::int64_t version, const std::string& entry_script,
                                             const std::string& snapshot_id,
                                             const std::string& environment);

// Forgets the deployment of the version `ref` names; NotFound when it has none.
Result<store::ModelVersion> UndeployModel(Workspace& workspace, std::string_view ref);

// Where Kiln's Python package is: the `python` folder beside this executable (a build
// folder's, or an installation's). PYTHONPATH for a worker, and the host script's home.
std::filesystem::path KilnPythonPackageRoot();

}  // namespace kiln::client
