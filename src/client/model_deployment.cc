#include "client/model_deployment.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "client/environment_registry.h"
#include "client/model_registry.h"
#include "client/remote_submit.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "common/tunables.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/source_scan.h"

namespace kiln::client {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::chrono::seconds kCheckTimeout{60};

// A script path inside a snapshot: relative, '/'-separated, no '..', a .py file.
Status CheckEntryPath(std::string_view entry) {
  const fs::path path(entry);
  const bool inside = !entry.empty() && path.is_relative() &&
                      std::none_of(path.begin(), path.end(), [](const fs::path& part) {
                        return part == ".." || part == ".";
                      });
  if (!inside) {
    return InvalidArgumentError(
        fmt::format("entry script '{}': give a path inside the source directory (no '..')", entry));
  }
  if (path.extension() != ".py") {
    return InvalidArgumentError(fmt::format(
        "entry script '{}': a scoring script is a Python file (.py) defining init() and "
        "run(raw_data)",
        entry));
  }
  return Status::Ok();
}

// Step 1: Python's ast reads the script (kiln/_score_worker.py --check); nothing of it runs.
Status CheckScript(const fs::path& script) {
  SpawnOptions spawn;
  spawn.argv = {ReadTunable(kKilnPython),
                (KilnPythonPackageRoot() / "kiln" / "_score_worker.py").string(), "--check",
                script.string()};
  KILN_ASSIGN_OR_RETURN(const CapturedRun checked, RunAndCapture(spawn, kCheckTimeout));
  const json answer = json::parse(checked.out, nullptr, false);
  if (!checked.exit.success() || !answer.is_object()) {
    return InternalError(fmt::format("checking {} with {} failed ({}): {}", script.string(),
                                     spawn.argv.front(), checked.exit.Describe(),
                                     TrimWhitespace(checked.err)));
  }
  if (answer.value("ok", false)) return Status::Ok();
  return InvalidArgumentError(answer.value("problem", "the script does not qualify"));
}

// Step 2: the folder's snapshot, in the local store.
Result<std::string> SnapshotFolder(Workspace& workspace, const fs::path& folder,
                                   const std::string& entry) {
  KILN_ASSIGN_OR_RETURN(const snapshot::SnapshotLimits limits, snapshot::LimitsFromEnvironment());
  const std::string where = fmt::format("source directory '{}'", folder.string());
  Result<snapshot::SourceScan> scan = snapshot::ScanSource(folder);
  if (!scan.ok()) return scan.status().WithPrefix(where);
  if (Status within = snapshot::CheckLimits(*scan, limits); !within.ok()) {
    return within.WithPrefix(where);
  }
  const bool has_entry =
      std::any_of(scan->files.begin(), scan->files.end(),
                  [&](const snapshot::SourceFile& file) { return file.path == entry; });
  if (!has_entry) {
    return InvalidArgumentError(
        fmt::format("'{}' is excluded from the snapshot of '{}' by an ignore file (.kilnignore or "
                    ".gitignore); re-include it with a '!{}' line",
                    entry, folder.string(), entry));
  }
  snapshot::SnapshotStore snapshots(workspace.snapshots_root());
  KILN_RETURN_IF_ERROR(snapshots.Prepare());
  Result<snapshot::SnapshotInfo> info = snapshots.Create(*scan);
  if (!info.ok()) return info.status().WithPrefix(where);
  return info->id;
}

}  // namespace

fs::path KilnPythonPackageRoot() {
  // The file holding this code: the kiln executable, or kiln/_core*.so in the package.
  Dl_info info{};
  fs::path self = CurrentExecutable();
  if (::dladdr(reinterpret_cast<void*>(&KilnPythonPackageRoot), &info) != 0 &&
      info.dli_fname != nullptr) {
    std::error_code error;
    const fs::path found = fs::canonical(info.dli_fname, error);
    if (!error) self = found;
  }
  if (self.parent_path().filename() == "kiln") return self.parent_path().parent_path();
  return self.parent_path() / "python";
}

Result<ScriptSnapshot> SnapshotScript(Workspace& workspace, const DeploymentRequest& request) {
  if (request.entry_script.empty()) {
    return InvalidArgumentError("entry script: give the scoring script (score.py)");
  }
  fs::path folder = request.source_directory;
  std::string entry = request.entry_script;
  if (folder.empty()) {
    const fs::path script(request.entry_script);
    folder = script.has_parent_path() ? script.parent_path() : fs::path(".");
    entry = script.filename().string();
  }
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    return InvalidArgumentError(
        fmt::format("source directory '{}': no such folder", folder.string()));
  }
  folder = fs::absolute(folder).lexically_normal();
  KILN_RETURN_IF_ERROR(CheckEntryPath(entry));
  const fs::path script = folder / entry;
  if (!fs::is_regular_file(script, error)) {
    return InvalidArgumentError(
        fmt::format("entry script '{}': no such file in '{}'", entry, folder.string()));
  }
  KILN_RETURN_IF_ERROR(CheckScript(script));
  KILN_ASSIGN_OR_RETURN(const std::string snapshot_id, SnapshotFolder(workspace, folder, entry));
  return ScriptSnapshot{entry, snapshot_id};
}

Result<store::ModelVersion> DeployModel(Workspace& workspace, const DeploymentRequest& request) {
  KILN_ASSIGN_OR_RETURN(const auto ref, ParseModelRef(request.model));
  // The model first: a deployment of nothing snapshots nothing.
  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model,
                        workspace.store().GetModelVersion(ref.first, ref.second));
  KILN_ASSIGN_OR_RETURN(const ScriptSnapshot script, SnapshotScript(workspace, request));
  if (workspace.server() != nullptr) {
    KILN_RETURN_IF_ERROR(SendLocalSnapshot(workspace, script.snapshot_id).status());
    // The server checks and resolves again (its own registry of environments).
    return workspace.store().SetModelDeployment(model.name, model.version,
                                                {.entry_script = script.entry_script,
                                                 .snapshot_id = script.snapshot_id,
                                                 .environment_name = request.environment});
  }
  return RecordDeployment(workspace, model.name, model.version, script.entry_script,
                          script.snapshot_id, request.environment);
}

Result<store::ModelVersion> RecordDeployment(Workspace& workspace, std::string_view name,
                                             std::int64_t version, const std::string& entry_script,
                                             const std::string& snapshot_id,
                                             const std::string& environment) {
  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model,
                        workspace.store().GetModelVersion(name, version));
  KILN_RETURN_IF_ERROR(CheckEntryPath(entry_script));
  const snapshot::SnapshotStore snapshots(workspace.snapshots_root());
  Result<snapshot::Manifest> manifest = snapshots.ReadManifest(snapshot_id);
  if (!manifest.ok()) {
    return InvalidArgumentError(
        fmt::format("snapshot '{}': {} (send the folder's snapshot first: POST /v1/snapshots)",
                    snapshot_id, manifest.status().message()));
  }
  const bool has_entry = std::any_of(
      manifest->entries.begin(), manifest->entries.end(), [&](const snapshot::ManifestEntry& e) {
        return e.path == entry_script && e.kind == snapshot::EntryKind::kFile;
      });
  if (!has_entry) {
    return InvalidArgumentError(
        fmt::format("snapshot {} holds no file '{}'", snapshot_id.substr(0, 12), entry_script));
  }
  store::ModelDeployment deployment{.entry_script = entry_script, .snapshot_id = snapshot_id};
  if (!environment.empty()) {
    KILN_ASSIGN_OR_RETURN(const RegisteredEnvironment registered,
                          EnvironmentRegistry(workspace).Get(environment));
    deployment.environment_name = fmt::format("{}:{}", registered.spec.name, registered.version);
    deployment.environment_json = env::EnvironmentToJson(registered.spec).dump();
  }
  return workspace.store().SetModelDeployment(model.name, model.version, deployment);
}

Result<store::ModelVersion> UndeployModel(Workspace& workspace, std::string_view ref) {
  KILN_ASSIGN_OR_RETURN(const auto parsed, ParseModelRef(ref));
  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model,
                        workspace.store().GetModelVersion(parsed.first, parsed.second));
  return workspace.store().RemoveModelDeployment(model.name, model.version);
}

}  // namespace kiln::client
