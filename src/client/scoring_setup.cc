#include "client/scoring_setup.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "client/model_deployment.h"
#include "client/model_registry.h"
#include "common/files.h"
#include "common/random.h"
#include "common/subprocess.h"
#include "common/tunables.h"
#include "env/environment_cache.h"
#include "env/environment_spec.h"
#include "snapshot/manifest.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/source_scan.h"

namespace kiln::client {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::string_view kLockFile = ".lock";
// A folder this young may be one whose kiln serve has not taken its lock yet.
constexpr std::chrono::minutes kAbandonedAfter{5};

// Removes the folders of kiln serve processes that ended without removing theirs: nobody
// holds their lock, and they are older than kAbandonedAfter.
void RemoveAbandoned(const fs::path& serve_root) {
  std::error_code error;
  const auto now = fs::file_time_type::clock::now();
  for (const fs::directory_entry& entry : fs::directory_iterator(serve_root, error)) {
    const fs::file_time_type changed = entry.last_write_time(error);
    if (error || now - changed < kAbandonedAfter) continue;
    UniqueFd lock(::open((entry.path() / kLockFile).c_str(), O_RDONLY | O_CLOEXEC));
    if (lock && ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) continue;  // in use
    RemoveTree(entry.path()).IgnoreError();
  }
}

// A snapshot the server has and this machine lacks: its manifest and missing contents
// into the local store.
Status FetchSnapshot(Workspace& workspace, const std::string& id) {
  snapshot::SnapshotStore local(workspace.snapshots_root());
  if (local.ReadManifest(id).ok()) return Status::Ok();
  KILN_RETURN_IF_ERROR(local.Prepare());
  store::http::ApiClient& api = *workspace.server();
  KILN_ASSIGN_OR_RETURN(const json answer, api.Get(fmt::format("/v1/snapshots/{}", id)));
  KILN_ASSIGN_OR_RETURN(const snapshot::Manifest manifest, snapshot::ParseManifest(answer.dump()));
  for (const std::string& sha256 : local.MissingObjects(manifest)) {
    KILN_ASSIGN_OR_RETURN(const store::http::RawResponse object,
                          api.GetRaw(fmt::format("/v1/snapshots/objects/{}", sha256)));
    KILN_RETURN_IF_ERROR(local.PutObject(sha256, object.body));
  }
  KILN_ASSIGN_OR_RETURN(const snapshot::SnapshotLimits limits, snapshot::LimitsFromEnvironment());
  KILN_ASSIGN_OR_RETURN(const std::string stored,
                        local.AddManifest(snapshot::SerializeManifest(manifest), limits));
  if (stored != id) {
    return DataLossError(fmt::format("the server's snapshot {} reads back as {}", id, stored));
  }
  return Status::Ok();
}

// The model's file in `folder` under its registered name: a hard link to the checked copy,
// or a copy where the link cannot be made (another filesystem).
Status PlaceModel(Workspace& workspace, const store::ModelVersion& model, const fs::path& folder,
                  fs::path* placed) {
  KILN_ASSIGN_OR_RETURN(const fs::path stored, ModelFile(workspace, model));
  KILN_RETURN_IF_ERROR(CreateDirectories(folder));
  *placed = folder / fs::path(model.path).filename();
  std::error_code error;
  fs::create_hard_link(stored, *placed, error);
  if (!error) return Status::Ok();
  return CopyFileContents(stored, *placed, 0444);
}

bool IsWorkerSecret(std::string_view entry) {
  return entry.starts_with("KILN_") || entry.starts_with("PG") ||
         entry.starts_with("PYTHONPATH=") || entry.starts_with("AZUREML_MODEL_DIR=");
}

// The interpreter and the environment's variables; builds the environment when it lists
// packages.
Status ResolveEnvironment(Workspace& workspace, const ScoringSource& source,
                          const std::function<void(std::string_view)>& log, std::string* python,
                          std::vector<std::string>* variables, std::string* hash,
                          UniqueFd* in_use) {
  const json definition = json::parse(source.environment_json, nullptr, false);
  if (!definition.is_object() || definition.empty()) {
    *python = ReadTunable(kKilnPython);
    return Status::Ok();
  }
  Result<env::EnvironmentSpec> spec = env::EnvironmentFromJson(definition);
  if (!spec.ok()) return spec.status().WithPrefix("the deployment's environment");
  for (const auto& [name, value] : spec->environment_variables) {
    variables->push_back(name + "=" + value);
  }
  if (spec->python.empty()) spec->python = ReadTunable(kKilnPython);  // as a job's would be
  if (!fs::path(spec->python).is_absolute()) {
    const char* path = std::getenv("PATH");
    const fs::path found = FindInPath(spec->python, path != nullptr ? path : "");
    if (found.empty()) {
      return InvalidArgumentError(fmt::format(
          "the deployment's environment: python '{}' was not found in PATH", spec->python));
    }
    spec->python = found.string();
  }
  if (!spec->NeedsBuild()) {
    *python = spec->python;
    return Status::Ok();
  }
  env::EnvironmentCache cache(workspace.envs_root());
  Result<env::ReadyEnvironment> ready = cache.Ensure(*spec, log);
  if (!ready.ok()) return ready.status().WithPrefix("building the deployment's environment");
  *python = ready->python.string();
  *hash = ready->hash;
  *in_use = std::move(ready->in_use);
  return Status::Ok();
}

}  // namespace

PreparedScoring::~PreparedScoring() {
  if (!root.empty()) RemoveTree(root).IgnoreError();
}

Result<std::unique_ptr<PreparedScoring>> PrepareScoring(
    Workspace& workspace, const store::ModelVersion& model, const ScoringSource& source,
    const std::function<void(std::string_view line)>& log) {
  const fs::path serve_root = workspace.home() / "serve";
  KILN_RETURN_IF_ERROR(CreateDirectories(serve_root));
  RemoveAbandoned(serve_root);
  auto prepared = std::make_unique<PreparedScoring>();
  prepared->root = serve_root / RandomHex(12);
  KILN_RETURN_IF_ERROR(CreateDirectories(prepared->root));
  prepared->lock_.reset(
      ::open((prepared->root / kLockFile).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!prepared->lock_ || ::flock(prepared->lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    return ErrnoError(fmt::format("cannot lock '{}'", prepared->root.string()), errno);
  }
  prepared->source = prepared->root / "src";
  const fs::path package = KilnPythonPackageRoot();
  if (source.builtin_torchscript) {
    KILN_RETURN_IF_ERROR(CreateDirectories(prepared->source));
    prepared->script = package / "kiln" / "_torchscript_score.py";
  } else {
    if (workspace.server() != nullptr) {
      KILN_RETURN_IF_ERROR(FetchSnapshot(workspace, source.snapshot_id));
    }
    const snapshot::SnapshotStore snapshots(workspace.snapshots_root());
    KILN_RETURN_IF_ERROR(snapshots.Materialize(source.snapshot_id, prepared->source));
    prepared->script = prepared->source / source.entry_script;
  }
  fs::path model_path;
  KILN_RETURN_IF_ERROR(PlaceModel(workspace, model, prepared->root / "model", &model_path));

  std::vector<std::string> variables;
  KILN_RETURN_IF_ERROR(ResolveEnvironment(workspace, source, log, &prepared->python, &variables,
                                          &prepared->environment_hash,
                                          &prepared->environment_in_use_));
  std::vector<std::string>& env = prepared->env;
  // Held for the view FindVariable returns into it.
  const std::vector<std::string> current = CurrentEnvironment();
  for (const std::string& entry : current) {
    if (!IsWorkerSecret(entry)) env.push_back(entry);
  }
  env.insert(env.end(), variables.begin(), variables.end());
  const std::optional<std::string_view> python_path = FindVariable(current, "PYTHONPATH");
  env.push_back(
      fmt::format("PYTHONPATH={}:{}{}", package.string(), prepared->source.string(),
                  python_path && !python_path->empty() ? ":" + std::string(*python_path) : ""));
  env.push_back("PYTHONUNBUFFERED=1");
  env.push_back("KILN_MODEL_DIR=" + model_path.parent_path().string());
  env.push_back("AZUREML_MODEL_DIR=" + model_path.parent_path().string());
  env.push_back("KILN_MODEL_PATH=" + model_path.string());
  env.push_back("KILN_MODEL_NAME=" + model.name);
  env.push_back("KILN_MODEL_VERSION=" + std::to_string(model.version));
  env.push_back("KILN_SCORE_SCRIPT=" + prepared->script.string());
  if (source.threads > 0) env.push_back(fmt::format("KILN_SERVE_THREADS={}", source.threads));
  prepared->argv = {prepared->python, (package / "kiln" / "_score_worker.py").string()};
  return prepared;
}

}  // namespace kiln::client
