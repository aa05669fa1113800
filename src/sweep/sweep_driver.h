#pragma once

// SweepDriver: carries one sweep to its end. It keeps nothing that matters in memory: the
// sweep's spec, its trials, their points and how far each was judged are in the store, so
// a driver killed at any instant and started again (`kiln sweep resume`) goes on where the
// first stopped, with no trial lost, repeated or run twice.
//
// Each Step():
//   1. Reads the sweep and its trials (their runs reconciled: a trial whose launcher died
//      ends Failed). A trial that ended Failed without ever leaving Queued is lost: a
//      driver died between storing it and starting its launcher, or its launcher died
//      waiting for slots. A lost trial never ran, so it does not count toward
//      max_total_trials and its point is proposed again; its stop reason says so. More
//      than max_concurrent_trials + 2 lost in a row fail the sweep.
//   2. Reads each trial's primary metric (rank 0's values, in logging order): its curve.
//      An ended trial's curve is read once more after it ends, then kept.
//   3. Judges every running trial's new intervals with the sweep's policy and stores the
//      judgement, with the interval it started from (Store::RecordJudgement): a judgement
//      some other driver stored first is dropped and read back next step. A stop is
//      stored before the trial's cancel is asked, and a trial stored as stopped that still
//      runs is canceled again, so a crash between the two loses nothing.
//   4. A sweep asked to cancel, or past its time limit (counted from when it last entered
//      Running: a resumed sweep has its whole limit again), cancels its running trials and
//      makes none; it ends when none runs: Canceled, or at the time limit Completed (Failed
//      when no trial completed).
//   5. Otherwise it starts trials while fewer than max_concurrent_trials run and fewer than
//      max_total_trials exist. On a target with a slot queue (local: launch/slot_queue.h)
//      the queue holds its trials to max_concurrent_trials (they share a group), and the
//      driver makes only the trials that fit now and one more, which waits in line and
//      starts warm (run_plan.h WarmStartPlan); none while one of its trials waits: a sweep
//      of 1,000 trials all at once is not 1,000 waiting launchers, and each trial is
//      proposed as late as it can be. The sampler proposes
//      from every trial so far (with those of resume_from's sweeps), and the trial is stored with
//      its index (Store::CreateTrial), so two drivers can never both make trial N.
//   6. With every trial made (or the space exhausted) and none running, the sweep ends:
//      Completed when a trial completed, Failed otherwise.
//
// Not thread-safe; one thread steps it.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "client/workspace.h"
#include "common/result.h"
#include "common/time.h"
#include "snapshot/snapshot_store.h"
#include "store/records.h"
#include "sweep/run_end_watch.h"
#include "sweep/sampler.h"
#include "sweep/sweep_spec.h"
#include "sweep/termination_policy.h"

namespace kiln::sweep {

// Ends a sweep Failed with `reason` (best effort: a sweep that ended meanwhile stays as it
// is). For a sweep that cannot be driven at all.
void MarkSweepFailed(store::Store& store, std::string_view sweep_id, const std::string& reason);

class SweepDriver {
 public:
  // NotFound for an unknown run; FailedPrecondition for a run that is not a sweep;
  // DataLoss for a stored spec this Kiln cannot read.
  // `clock` tells when the sweep's time limit is reached.
  static Result<std::unique_ptr<SweepDriver>> Open(client::Workspace& workspace,
                                                   std::string sweep_id,
                                                   const Clock& clock = SystemClock());

  // One pass of the protocol above; true once the sweep has ended.
  Result<bool> Step();

  // Steps every `poll`, and at once when a running trial's launcher exits (run_end_watch.h),
  // until the sweep ends or `stop` is set. A step that fails is tried
  // again with a growing wait (up to 5 s); 30 failed steps in a row, or stored data that
  // cannot be read (DataLoss), cancel the running trials, end the sweep Failed with the
  // reason, and come back.
  Status Run(std::chrono::milliseconds poll, const std::atomic<bool>& stop);

 private:
  SweepDriver(client::Workspace& workspace, store::Run sweep, SweepSpec spec,
              std::unique_ptr<TerminationPolicy> policy, const Clock& clock);

  Status ReadResumedTrials();
  // Steps 2-3 for trial `i`.
  Status Judge(std::size_t i, const store::Trial& trial, const store::Run& run);
  Status CancelTrial(const store::Run& run, const std::string& detail);
  // The trial's run, started.
  Result<store::Run> StartTrial(std::int64_t index, const Point& point);
  // Moves the sweep to its end `status`; false when its status changed meanwhile (a
  // cancel), to be decided again next step.
  Result<bool> End(store::RunStatus status, const std::string& detail);
  // How many trials to make now on a target with a slot queue (see step 5); nullopt for
  // a target without one. `waiting`: this sweep's trials waiting in that queue.
  std::optional<int> TrialsThatFitNow(int waiting) const;
  // Whether trial `i`, whose run just ended, never left Queued (step 1); a newly lost one
  // gets its stop reason, and the sampler starts over so that its point can come again.
  Result<bool> CheckLost(std::size_t i, const store::Trial& trial, const store::Run& run);
  // Cancels the running trials and ends the sweep Failed, as far as the store allows.
  void Fail(const std::string& reason);

  client::Workspace& workspace_;
  const Clock& clock_;
  store::Run sweep_;
  SweepSpec spec_;
  std::unique_ptr<TerminationPolicy> policy_;
  std::unique_ptr<Sampler> sampler_;
  std::vector<TrialRecord> resumed_;  // the trials of resume_from's sweeps, read once
  std::vector<Curve> curves_;         // by trial index
  std::set<std::size_t> complete_;    // trials whose ended curve is read in full
  std::set<std::size_t> lost_;        // trials that never ran (step 1)
  RunEndWatch ends_;                  // wakes Run() when a running trial's launcher exits
  bool exhausted_ = false;            // the sampler has no point left
};

}  // namespace kiln::sweep
