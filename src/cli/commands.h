#pragma once

// The kiln command's subcommands. Each Add* function registers one subcommand (or a group)
// on the app; its callback runs the command and stores the exit code in `exit_code`.
// Commands reach Kiln only through client/ (and launch/ for `kiln launch`).

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/workspace.h"
#include "common/result.h"
#include "server/api_server.h"

namespace kiln::cli {

struct CliContext {
  int exit_code = 0;
  // Arguments after a bare "--" on the command line (script params for `kiln submit`).
  std::vector<std::string> passthrough;
  // --server: a Kiln server to use instead of the store (KILN_SERVER when empty).
  std::string server;

  // Opens the workspace of KILN_HOME, with this executable as the launcher program.
  Result<std::unique_ptr<client::Workspace>> OpenWorkspace() const;
  // Runs `body` and turns its Status into an exit code, printing the error.
  void Finish(const Status& status);
};

void AddSubmitCommand(CLI::App& app, CliContext& context);
void AddRunCommands(CLI::App& app, CliContext& context);         // runs, show, cancel, experiments
void AddRunEditCommands(CLI::App& app, CliContext& context);     // tag, untag, edit, archive...
void AddRunRemovalCommands(CLI::App& app, CliContext& context);  // delete, gc
void AddLogsCommand(CLI::App& app, CliContext& context);
void AddDatastoreCommands(CLI::App& app, CliContext& context);
void AddEnvCommands(CLI::App& app, CliContext& context);  // env register, list, show, prune
void AddComputeCommands(CLI::App& app, CliContext& context);
void AddArtifactCommands(CLI::App& app, CliContext& context);  // artifacts, download, snapshot
void AddMetricsCommands(CLI::App& app, CliContext& context);   // metrics, compare
void AddPlotCommand(CLI::App& app, CliContext& context);
void AddModelCommands(CLI::App& app, CliContext& context);  // model register, list, ...
void AddModelDeployCommands(CLI::App& model_group, CliContext& context);  // deploy, undeploy
void AddServeCommand(CLI::App& app, CliContext& context);
void AddLaunchCommand(CLI::App& app, CliContext& context);
void AddServerCommands(CLI::App& app, CliContext& context);  // server, server token ...
void AddSweepCommands(CLI::App& app, CliContext& context);   // sweep submit, show, ...
void AddUiCommand(CLI::App& app, CliContext& context);       // kiln ui

// `kiln server` and `kiln ui`: serves the API (and the web UI) until SIGINT or SIGTERM, with
// this executable as the launcher program; `announce` runs once the port is bound.
Status ServeApi(server::ServerOptions options,
                const std::function<Status(const server::ApiServer&)>& announce);
// --listen HOST:PORT; InvalidArgument with an example.
Result<std::pair<std::string, int>> ParseListen(const std::string& listen);
// The store a server opens: `flag`, else KILN_STORE, else the embedded one of KILN_HOME.
std::string ServerStoreUrl(const std::string& flag);

}  // namespace kiln::cli
