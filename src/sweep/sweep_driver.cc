#include "sweep/sweep_driver.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "client/cancel.h"
#include "client/reconcile.h"
#include "client/submit.h"
#include "common/time.h"
#include "compute/local/local_target.h"
#include "launch/run_dir.h"
#include "launch/slot_queue.h"

namespace kiln::sweep {
namespace {

using nlohmann::json;
using store::RunStatus;

// A point's value as its script argument: text as it is, numbers in their shortest form.
std::string ArgumentText(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::optional<double> BestOf(const Curve& curve, Goal goal) {
  if (curve.values.empty()) return std::nullopt;
  return BestUpTo(curve.values, static_cast<int>(curve.values.size()), goal);
}

}  // namespace

Result<std::unique_ptr<SweepDriver>> SweepDriver::Open(client::Workspace& workspace,
                                                       std::string sweep_id, const Clock& clock) {
  KILN_ASSIGN_OR_RETURN(store::Run sweep, workspace.store().GetRun(sweep_id));
  if (sweep.kind != store::RunKind::kSweep) {
    return FailedPreconditionError(fmt::format("run {} is not a sweep", sweep_id));
  }
  const json stored = json::parse(sweep.spec_json, nullptr, /*allow_exceptions=*/false);
  Result<SweepSpec> spec = SweepFromJson(stored, fmt::format("sweep {}", sweep_id));
  if (!spec.ok()) {
    return DataLossError(fmt::format("the stored spec of sweep {} is unreadable: {}", sweep_id,
                                     spec.status().message()));
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<TerminationPolicy> policy,
                        TerminationPolicy::Parse(spec->early_termination, "early_termination"));
  std::unique_ptr<SweepDriver> driver(new SweepDriver(
      workspace, std::move(sweep), std::move(spec).value(), std::move(policy), clock));
  KILN_RETURN_IF_ERROR(driver->ReadResumedTrials());
  return driver;
}

SweepDriver::SweepDriver(client::Workspace& workspace, store::Run sweep, SweepSpec spec,
                         std::unique_ptr<TerminationPolicy> policy, const Clock& clock)
    : workspace_(workspace),
      clock_(clock),
      sweep_(std::move(sweep)),
      spec_(std::move(spec)),
      policy_(std::move(policy)),
      sampler_(MakeSampler(spec_.search_space, spec_.sampling, spec_.objective.goal)) {}

Status SweepDriver::ReadResumedTrials() {
  for (const std::string& id : spec_.resume_from) {
    KILN_ASSIGN_OR_RETURN(const std::vector<store::Trial> trials,
                          workspace_.store().ListTrials(id));
    for (const store::Trial& trial : trials) {
      if (!store::IsTerminal(trial.status)) continue;
      const json params = json::parse(trial.params_json, nullptr, false);
      Result<Point> point = spec_.search_space.PointFromJson(params);
      // A point of another space says nothing of this one's.
      if (point.ok()) resumed_.push_back({std::move(point).value(), trial.best, true});
    }
  }
  return Status::Ok();
}

Result<bool> SweepDriver::Step() {
  store::Store& store = workspace_.store();
  KILN_ASSIGN_OR_RETURN(sweep_, store.GetRun(sweep_.id));
  if (store::IsTerminal(sweep_.status)) return true;
  // A sweep is Preparing for an instant: it needs nothing before its first trial. A move
  // refused because the status changed meanwhile (a cancel) is read again next step.
  for (auto [from, to] : {std::pair(RunStatus::kQueued, RunStatus::kPreparing),
                          std::pair(RunStatus::kPreparing, RunStatus::kRunning)}) {
    if (sweep_.status != from) continue;
    store::Transition move;
    move.to = to;
    move.detail = fmt::format("driven by process {}", ::getpid());
    Result<store::Run> moved = store.TransitionRun(sweep_.id, move);
    if (moved.status().code() == StatusCode::kFailedPrecondition) return false;
    KILN_RETURN_IF_ERROR(moved.status());
    sweep_ = std::move(moved).value();
  }

  // 1. The trials, then their runs: a trial made after the first read has a run too.
  KILN_ASSIGN_OR_RETURN(const std::vector<store::Trial> trials, store.ListTrials(sweep_.id));
  store::RunFilter children;
  children.parent_id = sweep_.id;
  KILN_ASSIGN_OR_RETURN(std::vector<store::Run> runs, store.ListRuns(children));
  // Only this sweep's unfinished trials are reconciled (a trial whose launcher died ends
  // Failed); one that cannot be asked now is asked again next step.
  for (store::Run& run : runs) {
    if (store::IsTerminal(run.status)) continue;
    Result<store::Run> settled = client::Reconcile(workspace_, run);
    if (settled.ok()) {
      run = std::move(settled).value();
    } else {
      spdlog::warn("sweep {}: trial run {}: {}", sweep_.id, run.id, settled.status().ToString());
    }
  }
  std::map<std::string, const store::Run*> run_of;
  for (const store::Run& run : runs) run_of[run.id] = &run;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    if (!run_of.contains(trials[i].run_id)) {
      return DataLossError(fmt::format("trial {} of sweep {} has no run {}", trials[i].index,
                                       sweep_.id, trials[i].run_id));
    }
    // Indices are dense: CreateTrial is only ever asked for the next one.
    if (trials[i].index != static_cast<std::int64_t>(i)) {
      return DataLossError(fmt::format("sweep {} has no trial {}", sweep_.id, i));
    }
  }

  // 2. Their curves.
  curves_.resize(trials.size());
  for (std::size_t i = 0; i < trials.size(); ++i) {
    if (complete_.contains(i)) continue;
    const store::Run& run = *run_of[trials[i].run_id];
    Result<store::MetricSeries> series =
        store.ReadMetric(run.id, spec_.objective.primary_metric, 0);
    if (!series.ok() && series.status().code() != StatusCode::kNotFound) return series.status();
    curves_[i].values.clear();
    if (series.ok()) {
      for (const store::MetricPoint& point : series->points)
        curves_[i].values.push_back(point.value);
    }
    if (store::IsTerminal(run.status)) {
      KILN_ASSIGN_OR_RETURN(const bool lost, CheckLost(i, trials[i], run));
      if (lost) lost_.insert(i);
      complete_.insert(i);
    }
  }

  // 3. Judgements.
  int active = 0;
  int waiting = 0;  // Queued on the local target: in its queue, or about to join it
  bool any_completed = false;
  std::set<std::filesystem::path> running_locks;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    if (lost_.contains(i)) continue;
    const store::Run& run = *run_of[trials[i].run_id];
    KILN_RETURN_IF_ERROR(Judge(i, trials[i], run));
    if (!store::IsTerminal(run.status)) {
      ++active;
      running_locks.insert(launch::RunDir(run.run_dir).lock());
    }
    if (run.status == RunStatus::kQueued && run.compute_target == compute::LocalTarget::kName) {
      ++waiting;
    }
    if (run.status == RunStatus::kCompleted) any_completed = true;
  }

  // 4. A cancel, or the time limit.
  const bool canceling = sweep_.status == RunStatus::kCancelRequested;
  const Timestamp limit = spec_.limits.timeout_minutes * 60 * 1'000'000;
  const bool timed_out = sweep_.started_at && clock_.Now() - *sweep_.started_at > limit;
  if (canceling || timed_out) {
    const std::string why = canceling
                                ? std::string("the sweep was canceled")
                                : fmt::format("the sweep reached its time limit of {} minutes",
                                              spec_.limits.timeout_minutes);
    for (const store::Run& run : runs) {
      if (store::IsTerminal(run.status) || run.status == RunStatus::kCancelRequested) continue;
      KILN_RETURN_IF_ERROR(CancelTrial(run, why));
    }
    if (active > 0) return false;
    if (canceling) return End(RunStatus::kCanceled, why);
    return End(any_completed ? RunStatus::kCompleted : RunStatus::kFailed,
               any_completed ? why : why + ", and none of its trials completed");
  }

  // 5. New trials.
  std::vector<TrialRecord> records = resumed_;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    if (lost_.contains(i)) continue;
    const json params = json::parse(trials[i].params_json, nullptr, false);
    Result<Point> point = spec_.search_space.PointFromJson(params);
    if (!point.ok()) {
      return DataLossError(fmt::format("trial {} of sweep {} has unreadable parameters: {}",
                                       trials[i].index, sweep_.id, point.status().message()));
    }
    records.push_back({std::move(point).value(), BestOf(curves_[i], spec_.objective.goal),
                       store::IsTerminal(run_of[trials[i].run_id]->status)});
  }
  // Trials count toward the budget unless lost; indices stay dense, lost ones included.
  auto next_index = static_cast<std::int64_t>(trials.size());
  auto made = next_index - static_cast<std::int64_t>(lost_.size());
  // Trials that keep never running (a launcher that cannot start on this machine) would be
  // made again without end: past a few in a row, the sweep gives up.
  std::size_t lost_in_a_row = 0;
  for (std::size_t i = trials.size(); i-- > 0 && lost_.contains(i);) ++lost_in_a_row;
  if (lost_in_a_row > static_cast<std::size_t>(spec_.limits.max_concurrent_trials) + 2) {
    Fail(fmt::format(
        "its last {} trials never ran: each trial's launcher was gone before the run started "
        "(see `kiln show {}`)",
        lost_in_a_row, trials.back().run_id));
    return true;
  }
  std::optional<int> room = TrialsThatFitNow(waiting);
  // With a slot queue, the queue holds the sweep to max_concurrent_trials (the trials'
  // group limit), and for a warm start one trial more waits in line, started warm. Without
  // one, a trial is proposed only once it can run (as late as it can be).
  const std::int64_t concurrent =
      spec_.limits.max_concurrent_trials + (room && spec_.warm_start ? 1 : 0);
  while (!exhausted_ && active < concurrent && made < spec_.limits.max_total_trials &&
         (!room || *room > 0)) {
    std::optional<Point> point = sampler_->Propose(static_cast<std::uint64_t>(next_index), records);
    if (!point) {
      exhausted_ = true;
      break;
    }
    Result<store::Run> started = StartTrial(next_index, *point);
    // Another driver made this trial first: read it back next step.
    if (started.status().code() == StatusCode::kAlreadyExists) return false;
    KILN_RETURN_IF_ERROR(started.status());
    running_locks.insert(launch::RunDir(started->run_dir).lock());
    records.push_back({std::move(*point), std::nullopt, false});
    if (room) --*room;
    ++next_index;
    ++made;
    ++active;
  }

  ends_.Watch(running_locks);

  // 6. The end.
  if ((made >= spec_.limits.max_total_trials || exhausted_) && active == 0) {
    if (any_completed) {
      return End(RunStatus::kCompleted, fmt::format("every trial ended ({} made)", made));
    }
    return End(RunStatus::kFailed, fmt::format("none of its {} trials completed", made));
  }
  return false;
}

std::optional<int> SweepDriver::TrialsThatFitNow(int waiting) const {
  Result<std::unique_ptr<compute::ComputeTarget>> target =
      workspace_.Target(spec_.trial.compute_target);
  if (!target.ok()) return std::nullopt;  // StartTrial says what is wrong with it
  const std::optional<launch::SlotRequest> request = (*target)->Slots(spec_.trial);
  if (!request) return std::nullopt;
  if (waiting > 0) return 0;
  const Result<launch::QueueView> view = launch::SlotQueue(request->queue_dir).View(request->kind);
  if (!view.ok()) {
    // The trials' launchers will say the same; the sweep is bounded by its limits alone.
    spdlog::warn("sweep {}: cannot read the local queue: {}", sweep_.id, view.status().ToString());
    return std::nullopt;
  }
  int free = view->capacity - view->used;
  for (const launch::QueueView::Entry& entry : view->waiting) free -= entry.need;
  return std::max(0, free) / std::max(1, request->need) + 1;
}

Result<bool> SweepDriver::CheckLost(std::size_t i, const store::Trial& trial,
                                    const store::Run& run) {
  // Only reconciling, finding the launcher gone while the run was Queued, words it so; a
  // launcher that failed the run itself (its slots, its store) leaves a failure that counts.
  if (run.status != RunStatus::kFailed || run.started_at ||
      !run.failure_reason.ends_with(client::kStoppedBeforeStart)) {
    return false;
  }
  if (trial.stop_reason.empty()) {
    store::TrialJudgement judgement{trial.judged_through, trial.judged_through, trial.intervals,
                                    trial.best,
                                    "never ran: its launcher was gone before the run started; "
                                    "not counted, and its point may be tried again"};
    const Status stored = workspace_.store().RecordJudgement(run.id, judgement);
    if (!stored.ok() && stored.code() != StatusCode::kFailedPrecondition) return stored;
  }
  spdlog::info("sweep {}: trial {} never ran; its point may be proposed again", sweep_.id, i);
  // A grid walk does not go back over points it passed: start it again.
  sampler_ = MakeSampler(spec_.search_space, spec_.sampling, spec_.objective.goal);
  exhausted_ = false;
  return true;
}

Status SweepDriver::Judge(std::size_t i, const store::Trial& trial, const store::Run& run) {
  const Goal goal = spec_.objective.goal;
  const Curve& curve = curves_[i];
  const auto intervals = static_cast<std::int64_t>(curve.values.size());
  const std::optional<double> best = BestOf(curve, goal);
  const bool running = !store::IsTerminal(run.status);
  store::TrialJudgement judgement{trial.judged_through, trial.judged_through, intervals, best,
                                  trial.stop_reason};
  std::optional<int> stopped_at;
  bool changed = intervals != trial.intervals || best != trial.best;
  if (running && trial.stop_reason.empty() && intervals > trial.judged_through) {
    const Judgement judged =
        JudgeNewIntervals(*policy_, curves_, i, static_cast<int>(trial.judged_through), goal);
    judgement.judged_through = judged.judged_through;
    judgement.stop_reason = judged.reason;
    stopped_at = judged.stopped_at;
    changed = true;
  }
  if (changed) {
    const Status stored = workspace_.store().RecordJudgement(run.id, judgement);
    // Judged by another driver meanwhile: its judgement stands, read back next step.
    if (stored.code() == StatusCode::kFailedPrecondition) return Status::Ok();
    KILN_RETURN_IF_ERROR(stored);
  }
  const std::string& reason = stopped_at ? judgement.stop_reason : trial.stop_reason;
  if (running && !reason.empty() && run.status != RunStatus::kCancelRequested) {
    return CancelTrial(run, reason);
  }
  return Status::Ok();
}

Status SweepDriver::CancelTrial(const store::Run& run, const std::string& detail) {
  if (run.status == RunStatus::kFinalizing) return Status::Ok();  // it ends by itself now
  store::Transition cancel;
  cancel.to = RunStatus::kCancelRequested;
  cancel.detail = detail;
  Result<store::Run> requested = workspace_.store().TransitionRun(run.id, cancel);
  // It ended or began finalizing meanwhile.
  if (requested.status().code() == StatusCode::kFailedPrecondition) return Status::Ok();
  KILN_RETURN_IF_ERROR(requested.status());
  return client::TellTargetOfCancel(workspace_, *requested);
}

Result<store::Run> SweepDriver::StartTrial(std::int64_t index, const Point& point) {
  spec::JobSpec job = spec_.trial;
  job.experiment = spec_.experiment;
  job.display_name = fmt::format(
      "{} trial {}", sweep_.display_name.empty() ? sweep_.id : sweep_.display_name, index);
  const std::vector<Parameter>& parameters = spec_.search_space.parameters();
  for (std::size_t p = 0; p < parameters.size(); ++p) {
    const std::string value = ArgumentText(point[p]);
    auto it = std::find_if(
        job.script_params.begin(), job.script_params.end(),
        [&](const spec::ScriptParam& param) { return param.name == parameters[p].name; });
    if (it != job.script_params.end()) {
      it->value = value;
    } else {
      job.script_params.push_back({parameters[p].name, value});
    }
  }
  const spec::LoadedJob loaded{
      job, spec::SpecSource(fmt::format("sweep {}: trial {}", sweep_.id, index), {}, {}),
      std::nullopt};
  store::Trial trial;
  trial.sweep_id = sweep_.id;
  trial.index = index;
  trial.params_json = spec_.search_space.PointToJson(point).dump();
  const auto take = [&]() -> Result<snapshot::SnapshotInfo> {
    snapshot::SnapshotInfo info;
    info.id = sweep_.snapshot_id;
    return info;
  };
  Result<client::SubmitResult> submitted =
      client::SubmitWith(workspace_, loaded, take, sweep_.submitted_by, &trial,
                         {static_cast<int>(spec_.limits.max_concurrent_trials), spec_.warm_start});
  if (!submitted.ok() && submitted.status().code() != StatusCode::kAlreadyExists &&
      submitted.status().code() != StatusCode::kUnavailable) {
    return submitted.status().WithPrefix(fmt::format("trial {} could not be submitted", index));
  }
  if (!submitted.ok()) return submitted.status();
  return std::move(submitted)->run;
}

Result<bool> SweepDriver::End(RunStatus status, const std::string& detail) {
  // The moves left from where the sweep is now (a driver may have died half-way).
  std::vector<RunStatus> path;
  if (status == RunStatus::kCompleted) {
    if (sweep_.status != RunStatus::kFinalizing) path.push_back(RunStatus::kFinalizing);
  } else if (status == RunStatus::kCanceled && sweep_.status != RunStatus::kCancelRequested) {
    path.push_back(RunStatus::kCancelRequested);
  }
  path.push_back(status);
  for (RunStatus next : path) {
    store::Transition move;
    move.to = next;
    move.detail = detail;
    if (next == RunStatus::kFailed) move.failure_reason = detail;
    Result<store::Run> moved = workspace_.store().TransitionRun(sweep_.id, move);
    // The status changed meanwhile (a cancel came in): decide again next step.
    if (moved.status().code() == StatusCode::kFailedPrecondition) return false;
    KILN_RETURN_IF_ERROR(moved.status());
    sweep_ = std::move(moved).value();
  }
  return true;
}

Status SweepDriver::Run(std::chrono::milliseconds poll, const std::atomic<bool>& stop) {
  // A step that fails is tried again, more slowly each time (a busy store, a full disk
  // freed, a trial's submit that failed for a passing reason); only a sweep that keeps
  // failing, or whose stored data is unreadable, is given up.
  constexpr int kMaxFailedSteps = 30;
  constexpr std::chrono::milliseconds kMaxBackoff(5000);
  int failed_steps = 0;
  std::chrono::milliseconds wait = poll;
  while (!stop.load()) {
    Result<bool> ended = Step();
    if (ended.ok() && *ended) return Status::Ok();
    if (ended.ok()) {
      failed_steps = 0;
      wait = poll;
    } else {
      spdlog::warn("sweep {}: {}", sweep_.id, ended.status().ToString());
      ++failed_steps;
      wait = std::min(wait * 2, kMaxBackoff);
      if (failed_steps >= kMaxFailedSteps || ended.status().code() == StatusCode::kDataLoss) {
        Fail(ended.status().message());
        return ended.status();
      }
    }
    // After a failed step the whole backoff is waited; a trial ending does not cut it short.
    if (failed_steps > 0) {
      std::this_thread::sleep_for(wait);
    } else {
      ends_.Wait(wait);
    }
  }
  return Status::Ok();
}

void SweepDriver::Fail(const std::string& reason) {
  // The sweep cannot go on: its running trials are canceled and it ends Failed.
  store::RunFilter children;
  children.parent_id = sweep_.id;
  Result<std::vector<store::Run>> runs = workspace_.store().ListRuns(children);
  if (runs.ok()) {
    for (const store::Run& run : *runs) {
      if (!store::IsTerminal(run.status)) CancelTrial(run, reason).IgnoreError();
    }
  }
  MarkSweepFailed(workspace_.store(), sweep_.id, reason);
}

void MarkSweepFailed(store::Store& store, std::string_view sweep_id, const std::string& reason) {
  store::Transition failed;
  failed.to = RunStatus::kFailed;
  failed.detail = reason;
  failed.failure_reason = reason;
  store.TransitionRun(sweep_id, failed).status().IgnoreError();
}

}  // namespace kiln::sweep
