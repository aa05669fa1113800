#pragma once

// The kiln command's subcommands. Each Add* function registers one subcommand (or a group)
// on the app; its callback runs the command and stores the exit code in `exit_code`.
// Commands reach Kiln only through client/ (and launch/ for `kiln launch`).

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "client/workspace.h"
#include "common/result.h"

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
void AddRunCommands(CLI::App& app, CliContext& context);  // runs, show, cancel, experiments
void AddLogsCommand(CLI::App& app, CliContext& context);
void AddDatastoreCommands(CLI::App& app, CliContext& context);
void AddEnvCommands(CLI::App& app, CliContext& context);  // env register, list, show, prune
void AddComputeCommands(CLI::App& app, CliContext& context);
void AddArtifactCommands(CLI::App& app, CliContext& context);  // artifacts, download, snapshot
void AddMetricsCommands(CLI::App& app, CliContext& context);   // metrics, compare
void AddPlotCommand(CLI::App& app, CliContext& context);
void AddModelCommands(CLI::App& app, CliContext& context);  // model register, list, ...
void AddServeCommand(CLI::App& app, CliContext& context);
void AddLaunchCommand(CLI::App& app, CliContext& context);
void AddServerCommands(CLI::App& app, CliContext& context);  // server, server token ...
void AddSweepCommands(CLI::App& app, CliContext& context);   // sweep submit, show, ...

}  // namespace kiln::cli
