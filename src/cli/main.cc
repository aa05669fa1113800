// The kiln command.

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "common/subprocess.h"

namespace kiln::cli {

Result<std::unique_ptr<client::Workspace>> CliContext::OpenWorkspace() const {
  client::WorkspaceOptions options;
  options.kiln_program = CurrentExecutable();
  if (!server.empty()) options.server_url = server;
  return client::Workspace::Open(options);
}

void CliContext::Finish(const Status& status) {
  if (status.ok()) return;
  PrintError(status);
  exit_code = ExitCodeFor(status);
}

namespace {

constexpr const char* kVersion = "0.1.0";

int Main(int argc, char** argv) {
  CliContext context;
  // Everything after the first bare "--" is passed through (script arguments).
  std::vector<char*> args(argv, argv + argc);
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (std::string(args[i]) == "--") {
      for (std::size_t j = i + 1; j < args.size(); ++j) context.passthrough.emplace_back(args[j]);
      args.resize(i);
      break;
    }
  }

  CLI::App app(
      "Kiln: train PyTorch models on your own machines.\n"
      "Docs: docs/cli.md (commands, exit codes), docs/job-spec.md (job files).",
      "kiln");
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("kiln ") + kVersion);
  app.add_option("--server", context.server,
                 "A Kiln server to use instead of the local store (default: KILN_SERVER)");
  app.fallthrough();  // --server also after the subcommand
  AddSubmitCommand(app, context);
  AddRunCommands(app, context);
  AddRunEditCommands(app, context);
  AddRunRemovalCommands(app, context);
  AddLogsCommand(app, context);
  AddDatastoreCommands(app, context);
  AddEnvCommands(app, context);
  AddComputeCommands(app, context);
  AddArtifactCommands(app, context);
  AddMetricsCommands(app, context);
  AddModelCommands(app, context);
  AddSweepCommands(app, context);
  AddServeCommand(app, context);
  AddPlotCommand(app, context);
  AddLaunchCommand(app, context);
  AddServerCommands(app, context);
  AddUiCommand(app, context);
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? kExitOk : kExitBadInput;
  }
  if (!context.passthrough.empty() && !app.got_subcommand("submit") &&
      !app.got_subcommand("exec-rank")) {
    PrintError(InvalidArgumentError(
        "arguments after '--' are only taken by 'kiln submit' (and 'kiln exec-rank')"));
    return kExitBadInput;
  }
  return context.exit_code;
}

}  // namespace
}  // namespace kiln::cli

int main(int argc, char** argv) { return kiln::cli::Main(argc, argv); }
