// kiln runs | show | cancel | experiments

#include <fmt/format.h>

#include <iostream>
#include <map>
#include <set>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/cancel.h"
#include "client/reconcile.h"
#include "client/run_id.h"
#include "common/strings.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"
#include "spec/spec_json.h"
#include "store/record_json.h"
#include "sweep/sweep_control.h"

namespace kiln::cli {
namespace {

// "extras 3f2a9c1d0b4e (pip: tqdm==4.66)": the environment the run's ranks used.
std::string EnvironmentText(const store::Run& run) {
  const nlohmann::json json = nlohmann::json::parse(run.spec_json, nullptr, false);
  if (json.is_discarded()) return "";
  const Result<spec::JobSpec> spec = spec::SpecFromJson(json);
  if (!spec.ok() || !spec->environment) return "";
  const env::EnvironmentSpec& e = *spec->environment;
  std::vector<std::string> packages = e.pip_packages;
  packages.insert(packages.end(), e.conda_packages.begin(), e.conda_packages.end());
  std::string text = e.name.empty() ? "(unnamed)" : e.name;
  if (!spec->environment_hash.empty()) text += " " + spec->environment_hash.substr(0, 12);
  if (!packages.empty()) text += " (" + JoinStrings(packages, " ") + ")";
  return text;
}

// Values past this many bytes are shortened in `kiln show`'s text; --json has them whole.
constexpr std::size_t kShownValueBytes = 200;

// "abc... (131,072 bytes in all)", cut on a UTF-8 character's boundary.
std::string Shorten(const std::string& text) {
  if (text.size() <= kShownValueBytes) return text;
  std::size_t cut = kShownValueBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{}... ({} bytes in all)", text.substr(0, cut), HumanCount(text.size()));
}

// "1", or "4 (2 nodes x 2, mpi, one GPU each)".
std::string RanksText(const launch::RunPlan& plan) {
  const launch::RankLayout& ranks = plan.ranks;
  if (ranks.world_size() == 1 && !plan.use_gpu) return "1";
  return fmt::format("{} ({} node{} x {}, {}{})", ranks.world_size(), ranks.node_count,
                     ranks.node_count == 1 ? "" : "s", ranks.process_count_per_node,
                     spec::BackendName(ranks.backend), plan.use_gpu ? ", one GPU each" : "");
}

std::string Duration(const store::Run& run) {
  if (!run.started_at) return "-";
  const Timestamp end = run.ended_at.value_or(SystemClock().Now());
  return FormatDuration(end - *run.started_at);
}

struct RunsFlags {
  std::string experiment;
  std::string status;
  int limit = 0;
  bool archived = false;
  bool include_archived = false;
  std::string where;
  bool json = false;
};

Status RunRuns(const RunsFlags& flags, CliContext& context) {
  store::RunFilter filter;
  if (!flags.experiment.empty()) filter.experiment = flags.experiment;
  if (!flags.status.empty()) {
    filter.status = store::ParseRunStatus(flags.status);
    if (!filter.status) {
      std::vector<std::string> names;
      for (store::RunStatus status : store::kAllStatuses) {
        names.emplace_back(store::RunStatusName(status));
      }
      return InvalidArgumentError(fmt::format("--status: unknown status '{}'; the statuses are {}",
                                              flags.status, JoinStrings(names, ", ")));
    }
  }
  filter.limit = flags.limit;
  filter.where = flags.where;
  filter.archived = flags.archived           ? store::ArchivedRuns::kOnly
                    : flags.include_archived ? store::ArchivedRuns::kIncluded
                                             : store::ArchivedRuns::kHidden;
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::vector<store::Run> runs, client::ReadRuns(*workspace, filter));
  if (flags.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::Run& run : runs) out.push_back(store::ToJson(run));
    PrintJson(out);
    return Status::Ok();
  }
  // A sweep's trials are listed under it, oldest first; a trial whose sweep is not listed
  // (another page, another filter) stands on its own.
  std::map<std::string, std::vector<const store::Run*>> trials_of;
  std::set<std::string> listed;
  for (const store::Run& run : runs) listed.insert(run.id);
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    if (!it->parent_id.empty() && listed.contains(it->parent_id)) {
      trials_of[it->parent_id].push_back(&*it);
    }
  }
  Table table({"RUN ID", "EXPERIMENT", "STATUS", "CREATED (UTC)", "DURATION", "NAME"});
  const auto add = [&](const store::Run& run, std::string_view prefix) {
    std::string name = run.display_name;
    if (run.kind == store::RunKind::kSweep) {
      name = fmt::format("sweep of {} trials{}", trials_of[run.id].size(),
                         name.empty() ? "" : ": " + name);
    }
    table.AddRow({std::string(prefix) + run.id, run.experiment,
                  std::string(store::RunStatusName(run.status)),
                  FormatTimestampShort(run.created_at), Duration(run), name});
  };
  for (const store::Run& run : runs) {
    if (!run.parent_id.empty() && listed.contains(run.parent_id)) continue;
    add(run, "");
    for (const store::Run* trial : trials_of[run.id]) add(*trial, "  ");
  }
  std::cout << table.Render();
  return Status::Ok();
}

struct ShowFlags {
  std::string run;
  bool json = false;
};

Status RunShow(const ShowFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), flags.run));
  KILN_ASSIGN_OR_RETURN(const store::Run run, client::ReadRun(*workspace, id));
  KILN_ASSIGN_OR_RETURN(const std::vector<store::StatusChange> history,
                        workspace->store().GetStatusHistory(id));
  const Result<launch::RunPlan> plan = launch::ReadPlan(launch::RunDir(run.run_dir));
  if (flags.json) {
    nlohmann::json out = store::ToJson(run);
    out["history"] = nlohmann::json::array();
    for (const store::StatusChange& change : history)
      out["history"].push_back(store::ToJson(change));
    out["command"] = plan.ok() ? nlohmann::json(plan->command) : nlohmann::json(nullptr);
    PrintJson(out);
    return Status::Ok();
  }
  std::string text;
  const auto field = [&](std::string_view name, const std::string& value) {
    if (!value.empty()) text += fmt::format("{:<11}{}\n", name, value);
  };
  field("Run", run.id);
  field("Experiment", run.experiment);
  field("Name", Shorten(run.display_name));
  field("Archived", run.archived_at ? FormatTimestampShort(*run.archived_at) + " UTC" : "");
  field("Status", std::string(store::RunStatusName(run.status)));
  field("Submitter", run.submitted_by);
  field("Reason", run.failure_reason);
  field("Compute", run.target_detail);
  field("Exit code", run.exit_code ? std::to_string(*run.exit_code) : "");
  field("Created", FormatTimestampShort(run.created_at) + " UTC");
  field("Started", run.started_at ? FormatTimestampShort(*run.started_at) + " UTC" : "");
  field("Ended", run.ended_at ? FormatTimestampShort(*run.ended_at) + " UTC" : "");
  field("Duration", run.started_at ? Duration(run) : "");
  field("Target", fmt::format("{} (host {})", run.compute_target, run.host));
  if (plan.ok()) field("Ranks", RanksText(*plan));
  field("Snapshot", run.snapshot_id.substr(0, 12));
  field("Python env", EnvironmentText(run));
  field("Run dir", run.run_dir);
  if (plan.ok()) {
    std::vector<std::string> quoted;
    for (const std::string& arg : plan->command) quoted.push_back(ShellQuote(Shorten(arg)));
    field("Command", JoinStrings(quoted, " "));
  }
  if (!run.params.empty()) {
    text += "Params\n";
    for (const store::RunParam& param : run.params) {
      std::string value = Shorten(param.value.value_or(""));
      if (param.resolved && param.resolved != param.value) {
        value += " -> " + Shorten(*param.resolved);
      }
      text += fmt::format("  {:<20} {}", Shorten(param.name), value);
      while (text.back() == ' ') text.pop_back();
      text += "\n";
    }
  }
  if (!run.description.empty()) {
    text += "Description\n";
    for (const std::string& line : SplitString(run.description, '\n')) text += "  " + line + "\n";
  }
  if (!run.tags.empty()) {
    text += "Tags\n";
    for (const auto& [key, value] : run.tags) {
      text += fmt::format("  {:<20} {}\n", key, Shorten(value));
    }
  }
  text += "History (UTC)\n";
  for (const store::StatusChange& change : history) {
    std::string line = fmt::format("  {}  {:<16}{}", FormatTimestamp(change.at).substr(0, 23),
                                   store::RunStatusName(change.status), change.detail);
    while (line.back() == ' ') line.pop_back();
    text += line + "\n";
  }
  if (!run.failure_log_tail.empty()) {
    text += "Last log lines\n";
    for (const std::string& line : run.failure_log_tail) text += "  " + line + "\n";
  }
  std::cout << text;
  return Status::Ok();
}

struct CancelFlags {
  std::string run;
  bool no_wait = false;
  int timeout_seconds = 60;
};

Status RunCancel(const CancelFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), flags.run));
  const auto wait = flags.no_wait ? std::chrono::milliseconds(0)
                                  : std::chrono::milliseconds(flags.timeout_seconds * 1000LL);
  KILN_ASSIGN_OR_RETURN(const store::Run target, workspace->store().GetRun(id));
  // A sweep is canceled through its driver, which cancels its trials.
  KILN_ASSIGN_OR_RETURN(const store::Run run, target.kind == store::RunKind::kSweep
                                                  ? sweep::CancelSweep(*workspace, id, wait)
                                                  : client::CancelRun(*workspace, id, wait));
  std::cout << run.id << " " << store::RunStatusName(run.status) << "\n";
  if (!flags.no_wait && !store::IsTerminal(run.status)) {
    return DeadlineExceededError(
        fmt::format("run {} is still {} after {} s; its launcher goes on stopping it", id,
                    store::RunStatusName(run.status), flags.timeout_seconds));
  }
  return Status::Ok();
}

Status RunExperiments(bool json, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::vector<store::Experiment> experiments,
                        workspace->store().ListExperiments());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::Experiment& experiment : experiments)
      out.push_back(store::ToJson(experiment));
    PrintJson(out);
    return Status::Ok();
  }
  Table table({"EXPERIMENT", "RUNS", "CREATED (UTC)"});
  for (const store::Experiment& experiment : experiments) {
    table.AddRow({experiment.name, std::to_string(experiment.run_count),
                  FormatTimestampShort(experiment.created_at)});
  }
  std::cout << table.Render();
  return Status::Ok();
}

}  // namespace

void AddRunCommands(CLI::App& app, CliContext& context) {
  auto runs_flags = std::make_shared<RunsFlags>();
  CLI::App* runs = app.add_subcommand("runs", "List runs, newest first");
  runs->add_option("--experiment", runs_flags->experiment, "Only runs of this experiment");
  runs->add_option("--status", runs_flags->status, "Only runs in this status (e.g. Running)");
  runs->add_option("--limit", runs_flags->limit, "At most this many runs (0: all)");
  runs->add_option("--where", runs_flags->where,
                   "Only runs matching a query: \"metrics.acc > 0.9 and tags.owner = 'ana'\" "
                   "(docs/runs.md, Finding runs)");
  runs->add_flag("--archived", runs_flags->archived, "Only archived runs (kiln archive)");
  runs->add_flag("--include-archived", runs_flags->include_archived,
                 "Archived runs as well as the others");
  runs->add_flag("--json", runs_flags->json, "Print JSON (docs/cli.md)");
  runs->callback([runs_flags, &context] { context.Finish(RunRuns(*runs_flags, context)); });

  auto show_flags = std::make_shared<ShowFlags>();
  CLI::App* show = app.add_subcommand("show", "Show one run: status, reason, params, history");
  show->add_option("run", show_flags->run, "Run id (or its last part)")->required();
  show->add_flag("--json", show_flags->json, "Print JSON (docs/cli.md)");
  show->callback([show_flags, &context] { context.Finish(RunShow(*show_flags, context)); });

  auto cancel_flags = std::make_shared<CancelFlags>();
  CLI::App* cancel = app.add_subcommand(
      "cancel", "Cancel a run: stop every process it started, then mark it Canceled");
  cancel->add_option("run", cancel_flags->run, "Run id (or its last part)")->required();
  cancel->add_flag("--no-wait", cancel_flags->no_wait, "Return once the cancel is requested");
  cancel->add_option("--timeout", cancel_flags->timeout_seconds,
                     "Seconds to wait for the run to end (default 60)");
  cancel->callback([cancel_flags, &context] { context.Finish(RunCancel(*cancel_flags, context)); });

  auto experiments_json = std::make_shared<bool>(false);
  CLI::App* experiments =
      app.add_subcommand("experiments", "List experiments and their run counts");
  experiments->add_flag("--json", *experiments_json, "Print JSON (docs/cli.md)");
  experiments->callback(
      [experiments_json, &context] { context.Finish(RunExperiments(*experiments_json, context)); });
}

}  // namespace kiln::cli
