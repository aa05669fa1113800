#include "client/gc.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "client/run_removal.h"
#include "common/files.h"
#include "common/redact.h"
#include "env/environment_cache.h"
#include "env/environment_spec.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"
#include "snapshot/snapshot_store.h"
#include "store/http/api_client.h"

namespace kiln::client {
namespace fs = std::filesystem;

namespace {

Result<UniqueFd> LockHome(const fs::path& home, int mode) {
  KILN_RETURN_IF_ERROR(CreateDirectories(home));
  const fs::path path = home / "gc.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError(fmt::format("cannot open {}", path.string()), errno);
  while (::flock(fd.get(), mode) != 0) {
    if (errno != EINTR) return ErrnoError(fmt::format("cannot lock {}", path.string()), errno);
  }
  return fd;
}

std::uint64_t TreeBytes(const fs::path& root) {
  std::uint64_t bytes = 0;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(root, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file(error)) bytes += it->file_size(error);
  }
  return bytes;
}

// Whether the run folder's plan names this workspace's store, or the server this workspace
// serves (a server's launchers report to it), credentials redacted as a plan keeps them;
// true for a folder without a readable plan (a sweep's, or one a submit left half-made).
bool OfThisStore(const fs::path& folder, const Workspace& workspace) {
  const Result<launch::RunPlan> plan = launch::ReadPlan(launch::RunDir(folder));
  if (!plan.ok()) return true;
  if (plan->store_url == RedactUrlCredentials(workspace.store_url())) return true;
  const std::optional<LauncherReporting>& reporting = workspace.launcher_reporting();
  return reporting && plan->store_url == RedactUrlCredentials(reporting->store_url);
}

}  // namespace

Result<UniqueFd> HoldOffGc(const fs::path& home) {
  // A home this user cannot write holds nothing of this submit's: no hold, and the snapshot
  // step says what to do about the home.
  std::error_code error;
  if (::access(home.c_str(), W_OK) != 0 && fs::exists(home, error)) return UniqueFd();
  return LockHome(home, LOCK_SH);
}

nlohmann::json GcOptionsToJson(const GcOptions& options) {
  return {{"dry_run", options.dry_run}, {"min_age_seconds", options.min_age.count()}};
}

Result<GcOptions> GcOptionsFromJson(const nlohmann::json& json) {
  GcOptions options;
  if (!json.is_object()) return InvalidArgumentError("expected {\"dry_run\", \"min_age_seconds\"}");
  for (const auto& [key, value] : json.items()) {
    if (key == "dry_run" && value.is_boolean()) {
      options.dry_run = value.get<bool>();
    } else if (key == "min_age_seconds" && value.is_number_integer() &&
               value.get<std::int64_t>() >= 0) {
      options.min_age = std::chrono::seconds(value.get<std::int64_t>());
    } else {
      return InvalidArgumentError(
          fmt::format("'{}' is not an option of a collection; it takes dry_run (true or false) and "
                      "min_age_seconds (an integer >= 0)",
                      key));
    }
  }
  return options;
}

nlohmann::json GcReportToJson(const GcReport& report) {
  return {{"run_folders", report.run_folders},
          {"run_folder_bytes", report.run_folder_bytes},
          {"manifests", report.manifests},
          {"objects", report.objects},
          {"snapshot_bytes", report.snapshot_bytes},
          {"environments", report.environments},
          {"store", report.store}};
}

Result<GcReport> GcReportFromJson(const nlohmann::json& json) {
  try {
    GcReport report;
    report.run_folders = json.at("run_folders").get<std::vector<std::string>>();
    report.run_folder_bytes = json.at("run_folder_bytes").get<std::uint64_t>();
    report.manifests = json.at("manifests").get<std::size_t>();
    report.objects = json.at("objects").get<std::size_t>();
    report.snapshot_bytes = json.at("snapshot_bytes").get<std::uint64_t>();
    report.environments = json.at("environments").get<std::vector<std::string>>();
    report.store = json.at("store").get<std::string>();
    return report;
  } catch (const nlohmann::json::exception& error) {
    return DataLossError(
        fmt::format("the server's collection report is malformed: {}", error.what()));
  }
}

Result<GcReport> CollectGarbage(Workspace& workspace, const GcOptions& options) {
  if (workspace.server() != nullptr) {
    KILN_ASSIGN_OR_RETURN(const nlohmann::json reply,
                          workspace.server()->Post("/v1/gc", GcOptionsToJson(options)));
    return GcReportFromJson(reply);
  }
  KILN_ASSIGN_OR_RETURN(const UniqueFd lock, LockHome(workspace.home(), LOCK_EX));
  KILN_ASSIGN_OR_RETURN(store::StoreReferences references, workspace.store().ListReferences());
  // The environments deployed scoring scripts run in, built or not serving now.
  KILN_ASSIGN_OR_RETURN(const std::vector<store::ModelVersion> models,
                        workspace.store().ListModelVersions(""));
  for (const store::ModelVersion& model : models) {
    if (!model.deployment) continue;
    const Result<env::EnvironmentSpec> environment = env::EnvironmentFromJson(
        nlohmann::json::parse(model.deployment->environment_json, nullptr, false));
    if (environment.ok() && environment->NeedsBuild()) {
      references.environment_hashes.insert(env::EnvironmentHash(*environment));
    }
  }
  GcReport report;

  std::error_code error;
  const fs::path runs = workspace.runs_root();
  if (fs::exists(runs, error)) {
    for (const fs::directory_entry& entry : fs::directory_iterator(runs, error)) {
      const std::string id = entry.path().filename().string();
      if (references.run_ids.contains(id) || !OlderThan(entry.path(), options.min_age)) continue;
      // A folder another store's run left in this home (KILN_STORE changed, a server on
      // another store beside local use) is that store's to collect.
      if (!OfThisStore(entry.path(), workspace)) continue;
      const std::uint64_t bytes = TreeBytes(entry.path());
      KILN_ASSIGN_OR_RETURN(const std::string kept,
                            RemoveRunFolder(entry.path(), id, options.dry_run));
      if (!kept.empty()) continue;
      report.run_folders.push_back(id);
      report.run_folder_bytes += bytes;
    }
  }
  if (error) {
    return InternalError(fmt::format("cannot list {}: {}", runs.string(), error.message()));
  }
  std::sort(report.run_folders.begin(), report.run_folders.end());

  const snapshot::SnapshotStore snapshots(workspace.snapshots_root());
  KILN_ASSIGN_OR_RETURN(
      const snapshot::SnapshotStore::Collected collected,
      snapshots.Collect(references.snapshot_ids, options.min_age, options.dry_run));
  report.manifests = collected.manifests;
  report.objects = collected.objects;
  report.snapshot_bytes = collected.bytes;

  env::EnvironmentCache environments(workspace.home() / "envs");
  if (fs::exists(environments.root(), error)) {
    KILN_ASSIGN_OR_RETURN(
        report.environments,
        environments.Prune(options.min_age, references.environment_hashes, options.dry_run));
  }

  if (!options.dry_run) {
    KILN_ASSIGN_OR_RETURN(report.store, workspace.store().Compact());
  }
  return report;
}

}  // namespace kiln::client
