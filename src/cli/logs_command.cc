// kiln logs RUN [-f] [--timestamps] [--json]

#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/log_follower.h"
#include "client/reconcile.h"
#include "client/run_id.h"
#include "client/run_watch.h"
#include "launch/run_dir.h"

namespace kiln::cli {
namespace {

struct LogsFlags {
  std::string run;
  bool follow = false;
  bool timestamps = false;
  bool json = false;
};

void PrintLine(const LogsFlags& flags, const launch::LogLine& line) {
  if (flags.json) {
    std::cout << nlohmann::json{{"at", FormatTimestamp(line.at)},
                                {"stream", line.stream == launch::Stream::kOut ? "out" : "err"},
                                {"rank", 0},
                                {"text", line.text}}
                     .dump()
              << "\n";
  } else if (flags.timestamps) {
    std::cout << FormatTimestamp(line.at) << " " << line.text << "\n";
  } else {
    std::cout << line.text << "\n";
  }
  if (flags.follow) std::cout << std::flush;
}

Status RunLogs(const LogsFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), flags.run));
  if (flags.follow) {
    client::WaitOptions options;
    options.on_log_line = [&](const launch::LogLine& line) { PrintLine(flags, line); };
    return client::WaitForRun(*workspace, id, options).status();
  }
  KILN_ASSIGN_OR_RETURN(const store::Run run, client::ReadRun(*workspace, id));
  client::LogFollower follower(launch::RunDir(run.run_dir).rank_log(0));
  KILN_ASSIGN_OR_RETURN(const std::vector<launch::LogLine> lines, follower.ReadNew());
  for (const launch::LogLine& line : lines) PrintLine(flags, line);
  return Status::Ok();
}

}  // namespace

void AddLogsCommand(CLI::App& app, CliContext& context) {
  auto flags = std::make_shared<LogsFlags>();
  CLI::App* logs = app.add_subcommand("logs", "Print a run's log (stdout and stderr of rank 0)");
  logs->add_option("run", flags->run, "Run id (or its last part)")->required();
  logs->add_flag("-f,--follow", flags->follow, "Keep printing new lines until the run ends");
  logs->add_flag("--timestamps", flags->timestamps, "Start each line with the time it was read");
  logs->add_flag("--json", flags->json, "One JSON object per line (docs/cli.md)");
  logs->callback([flags, &context] { context.Finish(RunLogs(*flags, context)); });
}

}  // namespace kiln::cli
