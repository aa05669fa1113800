// kiln sweep submit | show | trials | best | cancel | resume, and `kiln sweep drive` (the
// detached driver that `submit` and `resume` start).

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/reconcile.h"
#include "client/run_id.h"
#include "common/strings.h"
#include "common/time.h"
#include "common/tunables.h"
#include "launch/launcher_lock.h"
#include "store/record_json.h"
#include "sweep/policy_replay.h"
#include "sweep/sweep_control.h"
#include "sweep/sweep_driver.h"
#include "sweep/termination_policy.h"
#include "sweep/trial_ranking.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

struct SweepView {
  store::Run sweep;
  sweep::SweepSpec spec;
  std::vector<store::Trial> trials;
  bool driver_alive = false;
};

Result<SweepView> ReadSweep(client::Workspace& workspace, const std::string& name) {
  KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace.store(), name));
  SweepView view;
  KILN_ASSIGN_OR_RETURN(view.sweep, workspace.store().GetRun(id));
  if (view.sweep.kind != store::RunKind::kSweep) {
    return InvalidArgumentError(fmt::format("run {} is a job, not a sweep (kiln show {})", id, id));
  }
  Result<sweep::SweepSpec> spec =
      sweep::SweepFromJson(json::parse(view.sweep.spec_json, nullptr, false), id);
  if (!spec.ok()) return DataLossError(fmt::format("sweep {}: {}", id, spec.status().message()));
  view.spec = std::move(spec).value();
  // Reading the trials' runs reconciles them: a trial whose launcher died shows Failed.
  store::RunFilter children;
  children.parent_id = id;
  KILN_RETURN_IF_ERROR(client::ReadRuns(workspace, children).status());
  KILN_ASSIGN_OR_RETURN(view.trials, workspace.store().ListTrials(id));
  KILN_ASSIGN_OR_RETURN(view.driver_alive, sweep::DriverAlive(view.sweep));
  return view;
}

std::string Value(const std::optional<double>& value) {
  return value ? fmt::format("{:.6g}", *value) : "-";
}

std::string ParamsText(const std::string& params_json) {
  const json params = json::parse(params_json, nullptr, false);
  std::vector<std::string> parts;
  if (params.is_object()) {
    for (const auto& [name, value] : params.items()) {
      parts.push_back(
          fmt::format("{}={}", name, value.is_string() ? value.get<std::string>() : value.dump()));
    }
  }
  return JoinStrings(parts, " ");
}

json TrialJson(const store::Trial& trial) { return store::ToJson(trial); }

std::string TrialTable(const std::vector<store::Trial>& trials) {
  Table table({"TRIAL", "RUN ID", "STATUS", "BEST", "INTERVALS", "PARAMETERS", "STOPPED"});
  for (const store::Trial& trial : trials) {
    table.AddRow({std::to_string(trial.index), trial.run_id,
                  std::string(store::RunStatusName(trial.status)), Value(trial.best),
                  std::to_string(trial.intervals), ParamsText(trial.params_json),
                  trial.stop_reason});
  }
  return table.Render();
}

struct SubmitFlags {
  std::string file;
  bool json = false;
};

Status RunSubmit(const SubmitFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(const sweep::LoadedSweep loaded, sweep::LoadSweepFile(flags.file));
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const sweep::SweepSubmission submitted,
                        sweep::SubmitSweep(*workspace, loaded));
  if (flags.json) {
    PrintJson(store::ToJson(submitted.sweep));
    return Status::Ok();
  }
  std::cout << submitted.sweep.id << "\n";
  PrintNote(
      fmt::format("sweep {} submitted: up to {} trials, {} at a time; follow it with "
                  "'kiln sweep show {}'",
                  submitted.sweep.id, loaded.spec.limits.max_total_trials,
                  loaded.spec.limits.max_concurrent_trials, submitted.sweep.id));
  return Status::Ok();
}

struct ShowFlags {
  std::string sweep;
  bool json = false;
  int top = 0;
};

Status RunShow(const ShowFlags& flags, CliContext& context, bool by_index) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(SweepView view, ReadSweep(*workspace, flags.sweep));
  std::vector<store::Trial> trials =
      by_index ? view.trials : sweep::RankTrials(view.trials, view.spec.objective.goal);
  if (flags.top > 0 && trials.size() > static_cast<std::size_t>(flags.top)) {
    trials.resize(static_cast<std::size_t>(flags.top));
  }
  if (flags.json) {
    json list = json::array();
    for (const store::Trial& trial : trials) list.push_back(TrialJson(trial));
    if (by_index) {
      PrintJson(list);
      return Status::Ok();
    }
    json out = store::ToJson(view.sweep);
    out["driver_alive"] = view.driver_alive;
    out["trials"] = list;
    PrintJson(out);
    return Status::Ok();
  }
  if (!by_index) {
    const store::Run& run = view.sweep;
    const sweep::SweepSpec& spec = view.spec;
    int running = 0;
    for (const store::Trial& trial : view.trials)
      running += store::IsTerminal(trial.status) ? 0 : 1;
    std::string driver = view.driver_alive ? "running" : "not running";
    if (!store::IsTerminal(run.status) && !view.driver_alive) {
      driver += fmt::format(" (kiln sweep resume {} continues the sweep)", run.id);
    }
    std::string text;
    const auto field = [&](std::string_view name, const std::string& value) {
      text += fmt::format("{:<11}{}\n", name, value);
    };
    field("Sweep", run.id);
    field("Experiment", run.experiment);
    field("Status", std::string(store::RunStatusName(run.status)) +
                        (run.failure_reason.empty() ? "" : ": " + run.failure_reason));
    field("Driver", driver);
    field("Objective", fmt::format("{} {}", sweep::GoalName(spec.objective.goal),
                                   spec.objective.primary_metric));
    field("Sampling", fmt::format("{} (seed {})", sweep::SamplingKindName(spec.sampling.kind),
                                  spec.sampling.seed));
    field("Policy", spec.early_termination.dump());
    field("Trials", fmt::format("{} made of at most {}, {} running (at most {} at a time)",
                                view.trials.size(), spec.limits.max_total_trials, running,
                                spec.limits.max_concurrent_trials));
    field("Created", FormatTimestampShort(run.created_at) + " UTC");
    std::cout << text << "\n";
  }
  std::cout << TrialTable(trials);
  return Status::Ok();
}

struct BestFlags {
  std::string sweep;
  bool json = false;
};

Status RunBest(const BestFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(SweepView view, ReadSweep(*workspace, flags.sweep));
  const std::optional<store::Trial> best = sweep::BestTrial(view.trials, view.spec.objective.goal);
  if (!best) {
    return NotFoundError(fmt::format("no trial of sweep {} has logged '{}' yet", view.sweep.id,
                                     view.spec.objective.primary_metric));
  }
  if (flags.json) {
    PrintJson(TrialJson(*best));
    return Status::Ok();
  }
  std::cout << fmt::format("{}  {} = {}  trial {}  {}\n", best->run_id,
                           view.spec.objective.primary_metric, Value(best->best), best->index,
                           ParamsText(best->params_json));
  return Status::Ok();
}

struct CancelFlags {
  std::string sweep;
  int timeout_seconds = 60;
};

Status RunCancel(const CancelFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(
      const store::Run sweep,
      sweep::CancelSweep(*workspace, flags.sweep,
                         std::chrono::milliseconds(flags.timeout_seconds * 1000LL)));
  std::cout << sweep.id << " " << store::RunStatusName(sweep.status) << "\n";
  if (!store::IsTerminal(sweep.status)) {
    return DeadlineExceededError(
        fmt::format("sweep {} is still {} after {} s; its driver goes on canceling its trials",
                    sweep.id, store::RunStatusName(sweep.status), flags.timeout_seconds));
  }
  return Status::Ok();
}

Status RunResume(const std::string& name, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const store::Run sweep, sweep::ResumeSweep(*workspace, name));
  std::cout << sweep.id << "\n";
  PrintNote(
      fmt::format("sweep {} resumed; follow it with 'kiln sweep show {}'", sweep.id, sweep.id));
  return Status::Ok();
}

struct ReplayFlags {
  std::string sweep;
  std::string policy;
  bool json = false;
};

Status RunReplay(const ReplayFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(const json policy_json, sweep::YamlTextToJson(flags.policy, "--policy"));
  KILN_ASSIGN_OR_RETURN(const std::unique_ptr<sweep::TerminationPolicy> policy,
                        sweep::TerminationPolicy::Parse(policy_json, "--policy"));
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(SweepView view, ReadSweep(*workspace, flags.sweep));
  for (const store::Trial& trial : view.trials) {
    if (!store::IsTerminal(trial.status)) {
      return FailedPreconditionError(fmt::format(
          "sweep {} has trials still running (trial {}); replay a sweep whose trials ended",
          view.sweep.id, trial.index));
    }
  }
  std::vector<sweep::RecordedTrial> recorded;
  for (const store::Trial& trial : view.trials) {
    sweep::RecordedTrial one;
    one.id = trial.run_id;
    one.started_at = trial.started_at.value_or(trial.created_at);
    one.ended_at = trial.ended_at.value_or(one.started_at);
    Result<store::MetricSeries> series =
        workspace->store().ReadMetric(trial.run_id, view.spec.objective.primary_metric, 0);
    if (!series.ok() && series.status().code() != StatusCode::kNotFound) return series.status();
    if (series.ok()) {
      for (const store::MetricPoint& point : series->points) {
        one.values.push_back(point.value);
        one.times.push_back(point.at);
      }
    }
    recorded.push_back(std::move(one));
  }
  const sweep::ReplayReport report =
      sweep::ReplayPolicy(*policy, view.spec.objective.goal, recorded);
  const double share = report.seconds_run > 0 ? report.seconds_saved / report.seconds_run : 0;
  if (flags.json) {
    json trials = json::array();
    for (std::size_t i = 0; i < report.trials.size(); ++i) {
      const sweep::ReplayedTrial& trial = report.trials[i];
      trials.push_back({{"index", view.trials[i].index},
                        {"run_id", trial.id},
                        {"best", trial.best ? json(*trial.best) : json(nullptr)},
                        {"stopped_at", trial.stopped_at ? json(*trial.stopped_at) : json(nullptr)},
                        {"reason", trial.reason.empty() ? json(nullptr) : json(trial.reason)},
                        {"seconds_run", trial.seconds_run},
                        {"seconds_saved", trial.seconds_saved}});
    }
    PrintJson(
        {{"sweep", view.sweep.id},
         {"policy", policy->ToJson()},
         {"trials", trials},
         {"stopped", report.stopped},
         {"seconds_run", report.seconds_run},
         {"seconds_saved", report.seconds_saved},
         {"best_run_id", report.best ? json(view.trials[*report.best].run_id) : json(nullptr)},
         {"best_survives", report.best_survives}});
    return Status::Ok();
  }
  Table table({"TRIAL", "RUN ID", "BEST", "RAN", "STOPPED AT", "SAVED", "REASON"});
  for (std::size_t i = 0; i < report.trials.size(); ++i) {
    const sweep::ReplayedTrial& trial = report.trials[i];
    table.AddRow({std::to_string(view.trials[i].index), trial.id, Value(trial.best),
                  fmt::format("{:.1f}s", trial.seconds_run),
                  trial.stopped_at ? fmt::format("interval {}", *trial.stopped_at) : "-",
                  trial.stopped_at ? fmt::format("{:.1f}s", trial.seconds_saved) : "-",
                  trial.reason});
  }
  std::cout << table.Render() << "\n";
  std::string best = "no trial logged the primary metric";
  if (report.best) {
    best = fmt::format("the best trial ({}, {} = {}) {}", view.trials[*report.best].index,
                       view.spec.objective.primary_metric, Value(report.trials[*report.best].best),
                       report.best_survives ? "survives" : "would have been stopped");
  }
  std::cout << fmt::format(
      "{} would have stopped {} of {} trials, saving {:.1f} s of {:.1f} s ({:.0f}%); {}\n",
      policy->Name(), report.stopped, report.trials.size(), report.seconds_saved,
      report.seconds_run, share * 100, best);
  return Status::Ok();
}

std::atomic<bool> g_stop_driving{false};

struct DriveFlags {
  std::string sweep;
  int lock_fd = -1;
};

Status RunDrive(const DriveFlags& flags, CliContext& context) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const store::Run sweep, workspace->store().GetRun(flags.sweep));
  // The lock is this driver's for as long as it lives; without an inherited one (a driver
  // started by hand) it is taken here.
  Result<launch::LauncherLock> lock =
      flags.lock_fd >= 0 ? launch::LauncherLock::Adopt(flags.lock_fd, sweep::DriverLock(sweep))
                         : launch::LauncherLock::Acquire(sweep::DriverLock(sweep));
  if (!lock.ok()) {
    return lock.status().WithPrefix(fmt::format("sweep {}: another driver holds it", sweep.id));
  }
  KILN_RETURN_IF_ERROR(lock->SetInheritable(false));
  KILN_RETURN_IF_ERROR(lock->RecordOwner());
  struct sigaction action {};
  action.sa_handler = [](int) { g_stop_driving.store(true); };
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  Result<std::unique_ptr<sweep::SweepDriver>> driver =
      sweep::SweepDriver::Open(*workspace, sweep.id);
  if (!driver.ok()) {
    // A sweep no driver can read would wait forever: it ends Failed, saying why.
    sweep::MarkSweepFailed(workspace->store(), sweep.id, driver.status().message());
    return driver.status();
  }
  KILN_ASSIGN_OR_RETURN(const std::int64_t poll, ReadTunable(kSweepPollMilliseconds));
  spdlog::info("driving sweep {}", sweep.id);
  Status driven = (*driver)->Run(std::chrono::milliseconds(poll), g_stop_driving);
  spdlog::info("sweep {}: {}", sweep.id,
               g_stop_driving.load() ? "the driver was asked to stop"
                                     : (driven.ok() ? "ended" : driven.ToString()));
  return driven;
}

}  // namespace

void AddSweepCommands(CLI::App& app, CliContext& context) {
  CLI::App* sweep = app.add_subcommand(
      "sweep", "Hyperparameter sweeps: trials sampled from a search space (docs/sweeps.md)");
  sweep->require_subcommand(1);

  auto submit_flags = std::make_shared<SubmitFlags>();
  CLI::App* submit = sweep->add_subcommand("submit", "Submit a sweep file");
  submit->add_option("sweep_file", submit_flags->file, "The sweep file (YAML)")->required();
  submit->add_flag("--json", submit_flags->json, "Print the sweep's run as JSON");
  submit->callback([submit_flags, &context] { context.Finish(RunSubmit(*submit_flags, context)); });

  for (const bool by_index : {false, true}) {
    auto flags = std::make_shared<ShowFlags>();
    CLI::App* show = sweep->add_subcommand(
        by_index ? "trials" : "show",
        by_index ? "List a sweep's trials in the order they were made"
                 : "Show a sweep and its trials, best first by the primary metric");
    show->add_option("sweep", flags->sweep, "Sweep id (or its last part)")->required();
    show->add_option("--top", flags->top, "Only the first N trials");
    show->add_flag("--json", flags->json, "Print JSON (docs/sweeps.md)");
    show->callback(
        [flags, by_index, &context] { context.Finish(RunShow(*flags, context, by_index)); });
  }

  auto best_flags = std::make_shared<BestFlags>();
  CLI::App* best = sweep->add_subcommand("best", "The trial with the best primary metric");
  best->add_option("sweep", best_flags->sweep, "Sweep id (or its last part)")->required();
  best->add_flag("--json", best_flags->json, "Print the trial as JSON");
  best->callback([best_flags, &context] { context.Finish(RunBest(*best_flags, context)); });

  auto cancel_flags = std::make_shared<CancelFlags>();
  CLI::App* cancel =
      sweep->add_subcommand("cancel", "Cancel a sweep: its running trials, then the sweep");
  cancel->add_option("sweep", cancel_flags->sweep, "Sweep id (or its last part)")->required();
  cancel->add_option("--timeout", cancel_flags->timeout_seconds,
                     "Seconds to wait for the sweep to end (default 60)");
  cancel->callback([cancel_flags, &context] { context.Finish(RunCancel(*cancel_flags, context)); });

  auto resume_sweep = std::make_shared<std::string>();
  CLI::App* resume = sweep->add_subcommand(
      "resume", "Continue a sweep whose driver died, or a canceled or failed one");
  resume->add_option("sweep", *resume_sweep, "Sweep id (or its last part)")->required();
  resume->callback([resume_sweep, &context] { context.Finish(RunResume(*resume_sweep, context)); });

  auto replay_flags = std::make_shared<ReplayFlags>();
  CLI::App* replay = sweep->add_subcommand(
      "replay", "Replay another early-termination policy on a finished sweep's curves");
  replay->add_option("sweep", replay_flags->sweep, "Sweep id (or its last part)")->required();
  replay
      ->add_option("--policy", replay_flags->policy,
                   "The policy, as in a sweep file: '{type: bandit, slack_factor: 0.1}'")
      ->required();
  replay->add_flag("--json", replay_flags->json, "Print JSON (docs/sweeps.md)");
  replay->callback([replay_flags, &context] { context.Finish(RunReplay(*replay_flags, context)); });

  auto drive_flags = std::make_shared<DriveFlags>();
  CLI::App* drive =
      sweep->add_subcommand("drive", "Drive a sweep to its end (started by submit and resume)");
  drive->add_option("sweep", drive_flags->sweep, "Sweep id")->required();
  drive->add_option("--lock-fd", drive_flags->lock_fd,
                    "An inherited descriptor holding the sweep's driver.lock");
  drive->callback([drive_flags, &context] { context.Finish(RunDrive(*drive_flags, context)); });
}

}  // namespace kiln::cli
