#include "client/run_removal.h"

#include <fmt/format.h>

#include <vector>

#include "common/files.h"
#include "compute/local/local_target.h"
#include "launch/launcher_lock.h"
#include "launch/run_dir.h"
#include "store/http/api_client.h"
#include "store/wire.h"

namespace kiln::client {
namespace fs = std::filesystem;

Result<std::string> RemoveRunFolder(const fs::path& folder, std::string_view run_id, bool dry_run) {
  std::error_code error;
  const fs::file_status status = fs::symlink_status(folder, error);
  if (error || !fs::exists(status)) return std::string();
  const launch::RunDir dir(folder);
  // A job's folder holds its plan and launcher lock, a sweep's its driver's lock.
  const fs::path driver_lock = folder / "driver.lock";
  // Only what a run folder looks like is removed: a stored path is never trusted alone.
  if (!fs::is_directory(status) || folder.filename() != run_id ||
      (!fs::exists(dir.plan(), error) && !fs::exists(dir.lock(), error) &&
       !fs::exists(driver_lock, error))) {
    return fmt::format("{} does not look like run {}'s folder; left as it is", folder.string(),
                       run_id);
  }
  std::vector<launch::LauncherLock> locks;
  for (const fs::path& path : {dir.lock(), driver_lock}) {
    if (!fs::exists(path, error)) continue;
    Result<launch::LauncherLock> taken = launch::LauncherLock::Acquire(path);
    if (!taken.ok()) {
      return fmt::format(
          "a launcher or sweep driver still holds {}; kiln gc removes it once "
          "it is done",
          folder.string());
    }
    locks.push_back(std::move(taken).value());
  }
  if (!dry_run) KILN_RETURN_IF_ERROR(RemoveTree(folder));
  return std::string();
}

Result<std::vector<DeletedRun>> DeleteRun(Workspace& workspace, std::string_view run_id) {
  if (workspace.server() != nullptr) {
    // The server removes the records and the folders on its machine, and says which stayed.
    const std::string path = "/v1/runs/" + store::http::UrlEncode(run_id);
    KILN_ASSIGN_OR_RETURN(const nlohmann::json reply, workspace.server()->Delete(path));
    if (!reply.is_object() || !reply.contains("deleted") || !reply["deleted"].is_array()) {
      return DataLossError(fmt::format("the server's answer to DELETE {} has no 'deleted'", path));
    }
    std::vector<DeletedRun> deleted;
    for (const nlohmann::json& entry : reply["deleted"]) {
      KILN_ASSIGN_OR_RETURN(store::Run run, store::wire::RunFromJson(entry));
      const auto kept = entry.find("folder_kept");
      deleted.push_back({std::move(run), kept != entry.end() && kept->is_string()
                                             ? kept->get<std::string>()
                                             : std::string()});
    }
    return deleted;
  }
  KILN_ASSIGN_OR_RETURN(const std::vector<store::Run> removed, workspace.store().DeleteRun(run_id));
  std::vector<DeletedRun> deleted;
  const std::string here = compute::LocalHostName();
  for (const store::Run& run : removed) {
    DeletedRun one{run, ""};
    if (run.host != here) {
      one.folder_kept = fmt::format("{} is on {}; kiln gc there removes it", run.run_dir, run.host);
    } else {
      // The records are gone either way; a folder that cannot go is gc's.
      Result<std::string> kept = RemoveRunFolder(run.run_dir, run.id);
      one.folder_kept = kept.ok() ? *kept : std::string(kept.status().message());
    }
    deleted.push_back(std::move(one));
  }
  return deleted;
}

}  // namespace kiln::client
