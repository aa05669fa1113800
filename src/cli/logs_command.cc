// kiln logs RUN [--rank N] [-f] [--timestamps] [--json]

#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/reconcile.h"
#include "client/run_id.h"
#include "client/run_log_follower.h"
#include "client/run_watch.h"
#include "launch/run_dir.h"

namespace kiln::cli {
namespace {

struct LogsFlags {
  std::string run;
  std::optional<int> rank;
  bool follow = false;
  bool timestamps = false;
  bool json = false;
};

void PrintLine(const LogsFlags& flags, const client::RunLogLine& line) {
  if (flags.json) {
    std::cout << nlohmann::json{{"at", FormatTimestamp(line.line.at)},
                                {"stream",
                                 line.line.stream == launch::Stream::kOut ? "out" : "err"},
                                {"rank", line.rank},
                                {"text", line.line.text}}
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else if (flags.timestamps) {
    std::cout << FormatTimestamp(line.line.at) << " " << line.display << "\n";
  } else {
    std::cout << line.display << "\n";
  }
  if (flags.follow) std::cout << std::flush;
}

Status RunLogs(const LogsFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), flags.run));
  KILN_ASSIGN_OR_RETURN(const store::Run run, client::ReadRun(*workspace, id));
  const int world_size = client::RunWorldSize(run);
  if (flags.rank && (*flags.rank < 0 || *flags.rank >= world_size)) {
    return InvalidArgumentError(
        fmt::format("--rank: run {} has ranks 0 to {}, got {}", id, world_size - 1, *flags.rank));
  }
  if (flags.follow) {
    client::WaitOptions options;
    options.log_rank = flags.rank;
    options.on_log_line = [&](const client::RunLogLine& line) { PrintLine(flags, line); };
    return client::WaitForRun(*workspace, id, options).status();
  }
  client::RunLogFollower follower(workspace->files(), run, flags.rank);
  do {
    KILN_ASSIGN_OR_RETURN(const std::vector<client::RunLogLine> lines, follower.ReadNew());
    for (const client::RunLogLine& line : lines) PrintLine(flags, line);
  } while (follower.more());
  return Status::Ok();
}

}  // namespace

void AddLogsCommand(CLI::App& app, CliContext& context) {
  auto flags = std::make_shared<LogsFlags>();
  CLI::App* logs = app.add_subcommand(
      "logs", "Print a run's log: stdout and stderr of every rank, in time order");
  logs->add_option("run", flags->run, "Run id (or its last part)")->required();
  logs->add_option("--rank", flags->rank, "Only this rank's log");
  logs->add_flag("-f,--follow", flags->follow, "Keep printing new lines until the run ends");
  logs->add_flag("--timestamps", flags->timestamps, "Start each line with the time it was read");
  logs->add_flag("--json", flags->json, "One JSON object per line (docs/cli.md)");
  logs->callback([flags, &context] { context.Finish(RunLogs(*flags, context)); });
}

}  // namespace kiln::cli
