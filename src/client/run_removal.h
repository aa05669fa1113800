#pragma once

// Deleting runs (kiln delete, DELETE /v1/runs/{id}, Run.delete()): the store's records, then
// the run folders on this machine. A folder that cannot go now (another machine's, or one a
// launcher still holds) is left for `kiln gc` on its machine (client/gc.h), which removes
// the folders of runs the store no longer has.

#include <string>
#include <string_view>
#include <vector>

#include "client/workspace.h"
#include "common/result.h"
#include "store/records.h"

namespace kiln::client {

struct DeletedRun {
  store::Run run;
  // Empty when the folder was removed (through a server: by the server, on its machine);
  // else why it stays.
  std::string folder_kept;
};

// Deletes an ended run (a sweep with its trials) and its folder; see Store::DeleteRun.
Result<std::vector<DeletedRun>> DeleteRun(Workspace& workspace, std::string_view run_id);

// Removes a run folder the store no longer has a record of, when it is one: a real folder
// (not a link) named `run_id`, holding a plan.json or a launcher.lock that no launcher
// holds. Returns why it was kept, or "" when it is gone (with `dry_run`: when it would go).
Result<std::string> RemoveRunFolder(const std::filesystem::path& folder, std::string_view run_id,
                                    bool dry_run = false);

}  // namespace kiln::client
