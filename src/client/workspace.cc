#include "client/workspace.h"

#include <fmt/format.h>

#include "common/files.h"
#include "common/strings.h"
#include "common/tunables.h"
#include "compute/targets.h"
#include "store/http/http_store.h"
#include "store/open_store.h"

namespace kiln::client {

Result<std::unique_ptr<Workspace>> Workspace::Open(const WorkspaceOptions& options) {
  std::unique_ptr<Workspace> workspace(new Workspace());
  workspace->home_ = options.home.empty() ? KilnHome() : AbsolutePath(options.home);
  workspace->kiln_program_ =
      options.kiln_program.empty() ? CurrentExecutable() : options.kiln_program;
  workspace->spawner_ = options.spawner;
  workspace->reporting_ = options.launcher_reporting;
  KILN_RETURN_IF_ERROR(CreateDirectories(workspace->home_));

  const std::string server = options.server_url.value_or(ReadTunable(kKilnServer));
  if (!server.empty()) {
    store::http::ApiClientOptions api;
    api.url = server;
    api.token = options.token.empty() ? ReadTunable(kKilnToken) : options.token;
    api.ca_file = options.ca_file.empty() ? ReadTunable(kKilnCaCert) : options.ca_file;
    KILN_ASSIGN_OR_RETURN(workspace->server_, store::http::ApiClient::Create(api));
    workspace->store_url_ = workspace->server_->url();
    workspace->store_ = std::make_unique<store::http::HttpStore>(workspace->server_);
    workspace->files_ = ServerRunFiles(workspace->server_);
    return workspace;
  }
  const std::string chosen =
      options.store_url.empty() ? ReadTunable(kKilnStore) : options.store_url;
  workspace->store_url_ = chosen.empty() || chosen == kKilnStore.default_value
                              ? "sqlite://" + (workspace->home_ / "kiln.db").string()
                              : chosen;
  KILN_ASSIGN_OR_RETURN(workspace->store_, store::OpenStore(workspace->store_url_));
  workspace->files_ = LocalRunFiles();
  return workspace;
}

compute::TargetContext Workspace::TargetContext() const {
  compute::TargetContext context;
  context.kiln_program = kiln_program_;
  context.spawner = spawner_;
  context.store = store_.get();
  context.local_queue = local_queue();
  return context;
}

Result<std::unique_ptr<compute::ComputeTarget>> Workspace::Target(std::string_view name) const {
  return compute::OpenTarget(name, TargetContext());
}

Status Workspace::RegisterTarget(const store::ComputeTargetRecord& target) {
  if (server_ != nullptr) return store_->AddComputeTarget(target);
  return compute::RegisterComputeTarget(*store_, target, TargetContext());
}

Status Workspace::RemoveTarget(std::string_view name) {
  if (server_ != nullptr) return store_->RemoveComputeTarget(name);
  store::RunFilter active;
  active.only_active = true;
  KILN_ASSIGN_OR_RETURN(const std::vector<store::Run> runs, store_->ListRuns(active));
  std::vector<std::string> using_it;
  for (const store::Run& run : runs) {
    if (run.compute_target == name) using_it.push_back(run.id);
  }
  if (!using_it.empty()) {
    return FailedPreconditionError(
        fmt::format("compute target '{}' has runs that have not ended ({}); cancel them or wait",
                    name, JoinStrings(using_it, ", ")));
  }
  return store_->RemoveComputeTarget(name);
}

}  // namespace kiln::client
