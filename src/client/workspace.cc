#include "client/workspace.h"

#include "common/files.h"
#include "common/tunables.h"
#include "compute/targets.h"
#include "store/open_store.h"

namespace kiln::client {

Result<std::unique_ptr<Workspace>> Workspace::Open(const WorkspaceOptions& options) {
  std::unique_ptr<Workspace> workspace(new Workspace());
  workspace->home_ = options.home.empty() ? KilnHome() : AbsolutePath(options.home);
  const std::string chosen = ReadTunable(kKilnStore);
  workspace->store_url_ = chosen.empty() || chosen == kKilnStore.default_value
                              ? "sqlite://" + (workspace->home_ / "kiln.db").string()
                              : chosen;
  workspace->kiln_program_ =
      options.kiln_program.empty() ? CurrentExecutable() : options.kiln_program;
  workspace->spawner_ = options.spawner;
  KILN_RETURN_IF_ERROR(CreateDirectories(workspace->home_));
  KILN_ASSIGN_OR_RETURN(workspace->store_, store::OpenStore(workspace->store_url_));
  return workspace;
}

Result<std::unique_ptr<compute::ComputeTarget>> Workspace::Target(std::string_view name) const {
  compute::TargetContext context;
  context.kiln_program = kiln_program_;
  context.spawner = spawner_;
  return compute::OpenTarget(name, context);
}

}  // namespace kiln::client
