// kiln delete | gc: removing runs, and what no run needs any more.

#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/duration_flag.h"
#include "cli/output.h"
#include "client/gc.h"
#include "client/run_id.h"
#include "client/run_removal.h"
#include "common/strings.h"

namespace kiln::cli {
namespace {

Status RunDelete(const std::vector<std::string>& runs, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  // Every name is resolved before anything is deleted: a typo deletes nothing.
  std::vector<std::string> ids;
  for (const std::string& given : runs) {
    KILN_ASSIGN_OR_RETURN(ids.emplace_back(), client::ResolveRunId(workspace->store(), given));
  }
  // ...and a run still going refuses the whole list, as the store refuses a sweep whole.
  for (const std::string& id : ids) {
    KILN_ASSIGN_OR_RETURN(const store::Run run, workspace->store().GetRun(id));
    if (!store::IsTerminal(run.status)) {
      return FailedPreconditionError(fmt::format(
          "run {} is {}; only runs that have ended are deleted (kiln cancel ends it), and none "
          "of the {} named was",
          id, store::RunStatusName(run.status), ids.size()));
    }
  }
  for (const std::string& id : ids) {
    KILN_ASSIGN_OR_RETURN(const std::vector<client::DeletedRun> deleted,
                          client::DeleteRun(*workspace, id));
    for (const client::DeletedRun& one : deleted) {
      std::cout << one.run.id << " deleted\n";
      if (!one.folder_kept.empty()) std::cerr << "note: " << one.folder_kept << "\n";
    }
  }
  return Status::Ok();
}

struct GcFlags {
  bool dry_run = false;
  std::string min_age = "1h";
  bool json = false;
};

Status RunGc(const GcFlags& flags, CliContext& context) {
  client::GcOptions options;
  options.dry_run = flags.dry_run;
  KILN_ASSIGN_OR_RETURN(options.min_age, ParseDuration("--min-age", flags.min_age));
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const client::GcReport report, client::CollectGarbage(*workspace, options));
  if (flags.json) {
    PrintJson(client::GcReportToJson(report));
    return Status::Ok();
  }
  const char* verb = flags.dry_run ? "would remove" : "removed";
  std::cout << fmt::format("{} {} run folder(s) of deleted runs ({})\n", verb,
                           report.run_folders.size(), HumanBytes(report.run_folder_bytes));
  std::cout << fmt::format("{} {} snapshot(s) and {} object(s) no run or model names ({})\n", verb,
                           report.manifests, report.objects, HumanBytes(report.snapshot_bytes));
  std::cout << fmt::format("{} {} environment(s) no run used\n", verb, report.environments.size());
  if (!report.store.empty()) std::cout << "store: " << report.store << "\n";
  return Status::Ok();
}

}  // namespace

void AddRunRemovalCommands(CLI::App& app, CliContext& context) {
  auto delete_runs = std::make_shared<std::vector<std::string>>();
  CLI::App* remove = app.add_subcommand(
      "delete",
      "Delete ended runs for good: records, metrics, logs and folders (a sweep with its trials)");
  remove->add_option("runs", *delete_runs, "Run ids (or their last parts)")->required();
  remove->callback([delete_runs, &context] { context.Finish(RunDelete(*delete_runs, context)); });

  auto gc_flags = std::make_shared<GcFlags>();
  CLI::App* gc = app.add_subcommand(
      "gc", "Remove what no run needs: deleted runs' folders, unused snapshots and environments");
  gc->add_flag("--dry-run", gc_flags->dry_run, "Say what would be removed; remove nothing");
  gc->add_option("--min-age", gc_flags->min_age,
                 "Leave anything younger than this (default 1h): 30d, 12h, 90m or 45s");
  gc->add_flag("--json", gc_flags->json, "Print JSON (docs/cli.md)");
  gc->callback([gc_flags, &context] { context.Finish(RunGc(*gc_flags, context)); });
}

}  // namespace kiln::cli
