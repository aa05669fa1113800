#include "client/run_removal.h"

#include <fmt/format.h>

#include <optional>

#include "common/files.h"
#include "compute/local/local_target.h"
#include "launch/launcher_lock.h"
#include "launch/run_dir.h"

namespace kiln::client {
namespace fs = std::filesystem;

Result<std::string> RemoveRunFolder(const fs::path& folder, std::string_view run_id, bool dry_run) {
  std::error_code error;
  const fs::file_status status = fs::symlink_status(folder, error);
  if (error || !fs::exists(status)) return std::string();
  const launch::RunDir dir(folder);
  // Only what a run folder looks like is removed: a stored path is never trusted alone.
  if (!fs::is_directory(status) || folder.filename() != run_id ||
      (!fs::exists(dir.plan(), error) && !fs::exists(dir.lock(), error))) {
    return fmt::format("{} does not look like run {}'s folder; left as it is", folder.string(),
                       run_id);
  }
  std::optional<launch::LauncherLock> lock;
  if (fs::exists(dir.lock(), error)) {
    Result<launch::LauncherLock> taken = launch::LauncherLock::Acquire(dir.lock());
    if (!taken.ok()) {
      return fmt::format("a launcher still holds {}; kiln gc removes it once it is done",
                         folder.string());
    }
    lock = std::move(taken).value();
  }
  if (!dry_run) KILN_RETURN_IF_ERROR(RemoveTree(folder));
  return std::string();
}

Result<std::vector<DeletedRun>> DeleteRun(Workspace& workspace, std::string_view run_id) {
  KILN_ASSIGN_OR_RETURN(const std::vector<store::Run> removed, workspace.store().DeleteRun(run_id));
  std::vector<DeletedRun> deleted;
  const std::string here = compute::LocalHostName();
  for (const store::Run& run : removed) {
    DeletedRun one{run, ""};
    // Through a server, the server removed the folders on its machine.
    if (workspace.server() == nullptr) {
      if (run.host != here) {
        one.folder_kept =
            fmt::format("{} is on {}; kiln gc there removes it", run.run_dir, run.host);
      } else {
        // The records are gone either way; a folder that cannot go is gc's.
        Result<std::string> kept = RemoveRunFolder(run.run_dir, run.id);
        one.folder_kept = kept.ok() ? *kept : std::string(kept.status().message());
      }
    }
    deleted.push_back(std::move(one));
  }
  return deleted;
}

}  // namespace kiln::client
