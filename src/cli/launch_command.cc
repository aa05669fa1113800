// kiln launch RUN_DIR [--lock-fd N] [--queue-fd N]: run by compute targets, not by people.
// kiln exec-rank RUN_DIR -- COMMAND...: run by mpirun for each rank (launch/rank_shim.h).

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "common/subprocess.h"
#include "launch/launcher.h"
#include "launch/rank_shim.h"

namespace kiln::cli {
namespace {

struct LaunchFlags {
  std::string run_dir;
  int lock_fd = -1;
  int queue_fd = -1;
};

Status RunLaunch(const LaunchFlags& flags, CliContext& context) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  launch::LauncherOptions options;
  options.run_dir = flags.run_dir;
  options.lock_fd = flags.lock_fd;
  options.queue_fd = flags.queue_fd;
  options.kiln_program = CurrentExecutable();
  // Kiln's Python package is built next to the kiln executable (build/python/kiln).
  const std::filesystem::path python = CurrentExecutable().parent_path() / "python";
  std::error_code error;
  if (std::filesystem::is_directory(python / "kiln", error)) options.python_path = python;
  KILN_ASSIGN_OR_RETURN(const store::RunStatus status, launch::RunLauncher(options));
  context.exit_code = ExitCodeFor(status);
  return Status::Ok();
}

Status RunExecRank(const std::string& run_dir, CliContext& context) {
  launch::RankShimOptions options;
  options.run_dir = run_dir;
  options.command = context.passthrough;
  KILN_ASSIGN_OR_RETURN(const ExitStatus exit, launch::RunRankShim(options));
  launch::ExitLike(exit);
}

}  // namespace

void AddLaunchCommand(CLI::App& app, CliContext& context) {
  auto flags = std::make_shared<LaunchFlags>();
  CLI::App* launch = app.add_subcommand(
      "launch", "Run a submitted job's ranks from its run directory (started by compute targets)");
  launch->add_option("run_dir", flags->run_dir, "The run directory holding plan.json")->required();
  launch->add_option("--lock-fd", flags->lock_fd,
                     "An inherited descriptor holding the run's launcher.lock");
  launch->add_option("--queue-fd", flags->queue_fd,
                     "An inherited descriptor holding the run's place in the local queue");
  launch->callback([flags, &context] { context.Finish(RunLaunch(*flags, context)); });

  auto run_dir = std::make_shared<std::string>();
  CLI::App* exec_rank = app.add_subcommand(
      "exec-rank", "Run one rank of a run under mpirun: kiln exec-rank RUN_DIR -- COMMAND...");
  exec_rank->add_option("run_dir", *run_dir, "The run directory holding plan.json")->required();
  exec_rank->callback([run_dir, &context] { context.Finish(RunExecRank(*run_dir, context)); });
}

}  // namespace kiln::cli
