#include "launch/launcher.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <thread>
#include <vector>

#include "common/files.h"
#include "common/ports.h"
#include "common/tunables.h"
#include "common/unique_fd.h"
#include "env/environment_cache.h"
#include "launch/gpus.h"
#include "launch/launcher_lock.h"
#include "launch/launcher_signals.h"
#include "launch/node_address.h"
#include "launch/output_capture.h"
#include "launch/process_sweep.h"
#include "launch/rank_env.h"
#include "launch/rank_exit.h"
#include "launch/rank_log.h"
#include "launch/rank_starts.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"
#include "launch/run_preparation.h"
#include "launch/run_recorder.h"
#include "launch/slot_queue.h"
#include "launch/slurm_job.h"
#include "launch/store_access.h"
#include "launch/warm_start.h"
#include "store/open_store.h"
#include "tracking/ingestor.h"

namespace kiln::launch {
namespace {

using store::RunStatus;

// How long pipes may stay open after every rank is gone (a stopped grandchild may hold
// one until the kernel closes it).
constexpr std::chrono::milliseconds kDrainTimeout{2000};
// Shell convention for a process killed by a signal.
constexpr int kSignalExitBase = 128;
// How long a cluster launcher waits for the submitter to hand the lock over: past sbatch's
// own time limit (30 s), with room for a slow shared filesystem.
constexpr std::chrono::seconds kLockHandOverWait{60};
// How often a launcher inside a Slurm allocation asks Slurm whether the job still runs.
constexpr std::chrono::seconds kAllocationCheckInterval{2};

enum class StopCause {
  kNone,
  kRankFailed,
  kCancelRequested,
  kSignal,
  kDeadline,
  kAllocationEnded,  // Slurm ended the job: a node failed, a time limit, preemption
  kInternal
};

// A process the launcher started and waits for: a rank, or mpirun starting all of them.
struct Child {
  std::string name;  // "rank 3", "mpirun"
  pid_t pid = -1;
  std::optional<OutputCapture> capture;
  std::optional<ExitStatus> exit;
};

// Why a failed run failed, as recorded in the store.
struct Failure {
  std::string reason;
  int exit_code = 0;
  std::vector<std::string> tail;
};

class Launcher {
 public:
  explicit Launcher(const LauncherOptions& options)
      : options_(options),
        dir_(options.run_dir),
        spawner_(options.spawner != nullptr ? *options.spawner : RealSpawner()),
        clock_(options.clock != nullptr ? *options.clock : SystemClock()) {}

  Result<RunStatus> Run() {
    KILN_RETURN_IF_ERROR(Own());
    KILN_ASSIGN_OR_RETURN(const store::Run run, store_->GetRun(plan_.run_id));
    if (run.status == RunStatus::kCancelRequested) {
      return Record(RunStatus::kCanceled, "canceled before it started", {});
    }
    if (run.status != RunStatus::kQueued) {
      return FailedPreconditionError(fmt::format("run {} is {}; only a Queued run can be launched",
                                                 plan_.run_id, store::RunStatusName(run.status)));
    }
    if (plan_.slots) {
      const Status waited = WaitForSlots(run.created_at);
      if (CancelSeen()) {
        StopEverything();  // a rank started warm, if any
        return Cancel();
      }
      if (!waited.ok()) {
        StopEverything();
        return FailWith(waited.message());
      }
    }
    if (Status moved = Move(RunStatus::kPreparing, ""); !moved.ok()) {
      StopEverything();
      return AfterRefusal(moved);
    }

    // Done already while the run waited, for a warm start.
    const Status prepared = warm_.prepared ? Status::Ok() : Prepare();
    if (CancelSeen()) {
      StopEverything();
      return Cancel();
    }
    if (!prepared.ok()) return FailWith(PreparingFailed(prepared));

    const Status started = warm_.started ? Status::Ok() : StartRanks(/*warm=*/false);
    if (!started.ok()) {
      StopEverything();
      return FailWith(started.message());
    }
    if (Status moved = Move(RunStatus::kRunning, RanksStartedDetail()); !moved.ok()) {
      StopEverything();
      return AfterRefusal(moved);
    }
    running_since_micros_ = clock_.MonotonicMicros();
    if (warm_.gate) {
      // A warm rank that died since the last look is reaped and reported by Supervise().
      if (Status opened = OpenGate(warm_.gate); !opened.ok()) spdlog::warn("{}", opened.message());
    }
    Supervise();
    return Finish();
  }

 private:
  // Step 1: plan, store, lock, subreaper, signals.
  Status Own() {
    KILN_ASSIGN_OR_RETURN(plan_, ReadPlan(dir_));
    access_ = StoreAccessOf(plan_, CurrentEnvironment());
    KILN_ASSIGN_OR_RETURN(store_, store::OpenStore(access_.url, {access_.token, access_.ca_file}));
    remote_store_ = access_.remote();
    KILN_ASSIGN_OR_RETURN(patience_seconds_, ReadTunable(kServerPatienceSeconds));
    if (options_.lock_fd >= 0) {
      KILN_ASSIGN_OR_RETURN(lock_, LauncherLock::Adopt(options_.lock_fd, dir_.lock()));
    } else {
      // On a cluster the submitter holds the lock until the job's id is recorded
      // (launcher_lock.h); a launcher that starts first waits for it.
      KILN_ASSIGN_OR_RETURN(lock_, LauncherLock::Acquire(dir_.lock(), kLockHandOverWait));
    }
    KILN_RETURN_IF_ERROR(lock_->RecordOwner());
    KILN_ASSIGN_OR_RETURN(grace_seconds_, ReadTunable(kKillGraceSeconds));
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return ErrnoError("prctl(SUBREAPER)", errno);
    KILN_ASSIGN_OR_RETURN(LauncherSignals signals, LauncherSignals::Block());
    signals_.emplace(std::move(signals));
    recorder_.emplace(*store_, plan_.run_id, clock_, std::chrono::seconds(patience_seconds_),
                      *signals_);
    marker_ = RunMarker(plan_.run_id);
    spdlog::info("launcher {} owns run {}", ::getpid(), plan_.run_id);
    return Status::Ok();
  }

  // Step 1b, on the local target: waits Queued until the run's slots are free and it is
  // first in line (slot_queue.h), or a cancel comes. Woken by the queue's folders changing;
  // a launcher that died frees its slots without a change, so it also looks every
  // poll_interval.
  Status WaitForSlots(Timestamp created_at) {
    const SlotRequest& request = *plan_.slots;
    SlotQueue queue(request.queue_dir);
    Result<SlotTicket> ticket = options_.queue_fd >= 0
                                    ? queue.Adopt(plan_.run_id, request, options_.queue_fd)
                                    : queue.Join(plan_.run_id, created_at, request);
    KILN_RETURN_IF_ERROR(ticket.status());
    slots_.emplace(std::move(ticket).value());
    const QueueWatch watch(request.queue_dir);
    bool said = false;
    while (true) {
      Result<bool> taken = slots_->TryTake();
      // The queue's lock held long (a stopped launcher, hundreds waiting): look again later.
      if (!taken.ok() && taken.status().code() == StatusCode::kUnavailable) {
        spdlog::warn("waiting for slots: {}", taken.status().message());
        taken = false;
      }
      if (!taken.ok()) return taken.status().WithPrefix("waiting for slots");
      if (*taken) break;
      if (!said) {
        const Result<std::string> place = queue.DescribeWait(plan_.run_id);
        spdlog::info("{}", place.ok() ? *place : "waiting for slots");
        said = true;
      }
      if (CancelSeen()) return Status::Ok();
      if (!warm_.prepared && !warm_.abandoned && CanStartWarm(plan_, WarmBootstrap())) {
        KILN_RETURN_IF_ERROR(StartWarm());
      }
      watch.Wait(signals_->fd(), options_.poll_interval);
      if (!children_.empty()) {
        DrainAvailable();
        Reap();
        if (children_[0].exit) AbandonWarm();
      }
    }
    spdlog::info("took {} of the local target", CountOf(request.need, request.kind));
    return Status::Ok();
  }

  std::filesystem::path WarmBootstrap() const {
    return launch::WarmBootstrap(options_.python_path);
  }

  // While the run waits for slots (warm_start.h): prepares it and starts its rank, which
  // imports the script's modules and waits at the gate. A failure ends the run at once: it
  // would fail the same way when its turn came.
  Status StartWarm() {
    warm_.prepared = true;
    if (Status prepared = Prepare(); !prepared.ok()) {
      return InternalError(PreparingFailed(prepared));
    }
    if (CancelSeen()) return Status::Ok();
    warm_.started = true;
    KILN_RETURN_IF_ERROR(StartRanks(/*warm=*/true));
    spdlog::info("rank 0 started warm; it runs when the slots are free");
    return Status::Ok();
  }

  // The warm rank ended before its turn (killed, or its interpreter died importing): its
  // output stays in its log, and the rank starts again, cold, when the turn comes.
  void AbandonWarm() {
    spdlog::warn("the rank started warm {} before its turn; it starts again, cold, then",
                 children_[0].exit->Describe());
    StopEverything();
    children_.clear();
    ingestors_.clear();
    warm_.gate.reset();
    warm_.started = false;
    warm_.abandoned = true;
    cause_ = StopCause::kNone;
    failure_ = {};
  }

  static std::string PreparingFailed(const Status& status) {
    return fmt::format("preparing the run failed: {}", status.message());
  }

  // Step 2 (run_preparation.h).
  Status Prepare() {
    return PrepareRun(
        plan_, dir_, clock_, [this] { return CancelSeen(); }, environment_);
  }

  // Step 3. `warm`: the one rank starts under the warm-start bootstrap, gated.
  Status StartRanks(bool warm) {
    KILN_ASSIGN_OR_RETURN(const int port, PickFreePort());
    RankStartInputs inputs;
    inputs.plan = &plan_;
    inputs.dir = &dir_;
    inputs.access = &access_;
    inputs.rendezvous.master_port = port;
    if (plan_.cluster) {
      // The launcher runs on the allocation's first node, where rank 0 runs too.
      KILN_ASSIGN_OR_RETURN(inputs.rendezvous.master_addr, ClusterAddress());
      slurm_job_id_ = std::string(FindVariable(CurrentEnvironment(), "SLURM_JOB_ID").value_or(""));
      if (slurm_job_id_.empty()) {
        return FailedPreconditionError(
            "the run is planned for a Slurm allocation but SLURM_JOB_ID is not set: start it "
            "with sbatch (the compute target does)");
      }
    }
    for (int rank = 0; rank < plan_.ranks.world_size(); ++rank) {
      ingestors_.emplace_back(*store_, plan_.run_id, rank,
                              dir_.metrics() / fmt::format("rank-{}.spool", rank),
                              remote_store_ ? tracking::SpoolIngestor::kRecordsPerRemoteBatch
                                            : tracking::SpoolIngestor::kRecordsPerBatch);
    }
    inputs.base_env = CurrentEnvironment();
    inputs.python_path = options_.python_path;
    inputs.kiln_program = options_.kiln_program;
    if (plan_.use_gpu) {
      inputs.gpus =
          VisibleGpus(FindVariable(inputs.base_env, "CUDA_VISIBLE_DEVICES"), CountNvidiaDevices());
    }
    inputs.cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    inputs.as_root = ::geteuid() == 0;
    std::vector<ProcessStart> starts = PlanRankStarts(inputs);
    int inherited = -1;
    UniqueFd rank_end;  // the warm rank's end of its gate, closed here once it is started
    if (warm) {
      if (starts.size() != 1) return InternalError("only a run of one rank starts warm");
      KILN_ASSIGN_OR_RETURN(WarmGate gate, MakeWarm(starts[0], WarmBootstrap(), *plan_.warm_start));
      warm_.gate = std::move(gate.launcher);
      rank_end = std::move(gate.rank);
      inherited = rank_end.get();
    }
    for (ProcessStart& start : starts) KILN_RETURN_IF_ERROR(Start(std::move(start), inherited));
    return Status::Ok();
  }

  bool UnderShim() const { return RanksUnderShim(plan_); }
  SweepScope Scope() const { return plan_.cluster ? SweepScope::kThisNode : SweepScope::kMachine; }

  // This node's address for the ranks of a cluster run: on the target's network when it
  // names one, else the host name (which every node must then resolve).
  Result<std::string> ClusterAddress() const {
    if (!plan_.cluster->network.empty()) {
      KILN_ASSIGN_OR_RETURN(const NodeAddress address, AddressOnNetwork(plan_.cluster->network));
      return address.address;
    }
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) != 0) return ErrnoError("gethostname", errno);
    return std::string(name);
  }

  // `inherited`: a descriptor the process keeps (the warm start's gate), -1 for none.
  Status Start(ProcessStart start, int inherited) {
    Child child;
    child.name = std::move(start.name);
    KILN_ASSIGN_OR_RETURN(OutputCapture capture, OutputCapture::Open(start.log, clock_));
    child.capture.emplace(std::move(capture));
    SpawnOptions spawn;
    spawn.argv = std::move(start.argv);
    spawn.env = std::move(start.env);
    spawn.cwd = dir_.src();
    spawn.stdout_fd = child.capture->child_stdout();
    spawn.stderr_fd = child.capture->child_stderr();
    spawn.new_process_group = true;
    spawn.kill_with_parent = true;
    if (inherited >= 0) spawn.keep_fds = {inherited};
    Result<Subprocess> process = spawner_.Spawn(spawn);
    if (!process.ok()) {
      return Status(process.status().code(),
                    fmt::format("{} could not start: {}", child.name, process.status().message()));
    }
    child.capture->ChildStarted();
    child.pid = process->pid();
    spdlog::info("{} started as pid {}: {}", child.name, child.pid, spawn.argv[0]);
    children_.push_back(std::move(child));
    return Status::Ok();
  }

  std::string RanksStartedDetail() const {
    if (UnderShim()) {
      const std::string nodes =
          plan_.cluster ? fmt::format(" on {} nodes", plan_.ranks.node_count) : "";
      const std::string job =
          slurm_job_id_.empty() ? "" : fmt::format(" in Slurm job {}", slurm_job_id_);
      return fmt::format("{} started (pid {}) for {} ranks{}{}", children_[0].name,
                         children_[0].pid, plan_.ranks.world_size(), nodes, job);
    }
    if (children_.size() == 1) return fmt::format("rank 0 started (pid {})", children_[0].pid);
    return fmt::format("{} ranks started", children_.size());
  }

  // Step 4.
  void Supervise() {
    std::int64_t next_store_check = 0;
    std::int64_t next_allocation_check = 0;
    while (!AllExited()) {
      WaitForEvents(options_.poll_interval);
      const std::int64_t now = clock_.MonotonicMicros();
      if (cause_ == StopCause::kNone && now >= next_store_check) {
        next_store_check = now + std::chrono::microseconds(options_.poll_interval).count();
        if (CancelSeen()) cause_ = StopCause::kCancelRequested;
        if (UnderShim()) CheckRankExits();
        IngestMetrics(/*final=*/false);
      }
      if (cause_ == StopCause::kNone && !slurm_job_id_.empty() && now >= next_allocation_check) {
        next_allocation_check =
            now +
            std::chrono::duration_cast<std::chrono::microseconds>(kAllocationCheckInterval).count();
        CheckAllocation();
      }
      if (cause_ == StopCause::kNone && plan_.max_run_duration_seconds &&
          now - running_since_micros_ >= *plan_.max_run_duration_seconds * 1'000'000) {
        cause_ = StopCause::kDeadline;
      }
      if (cause_ != StopCause::kNone) break;
      FlushStaleLogs();
    }
    // Ranks killed, or a SIGTERM, because Slurm ended the job: the cause is Slurm's reason.
    if ((cause_ == StopCause::kRankFailed || cause_ == StopCause::kSignal) &&
        !slurm_job_id_.empty()) {
      CheckAllocation();
    }
    StopEverything();
    // No process of the run is left: the next run in the local queue may start.
    if (slots_) slots_->Leave();
    DrainPipes(kDrainTimeout);
    for (Child& child : children_) {
      if (Status flushed = child.capture->log().FlushAll(); !flushed.ok()) NoteInternal(flushed);
    }
    if (cause_ == StopCause::kRankFailed && UnderShim()) failure_ = MpiFailure();
  }

  // Inside a Slurm allocation: whether Slurm still runs the job. A node that failed, a time
  // limit or preemption ends the run Failed with Slurm's reason, whatever the ranks do (a
  // rank on a dead node may hang rather than fail). A signal Slurm sent for one of these
  // (the time limit's SIGTERM) counts as that reason, not as a cancel.
  void CheckAllocation() {
    const Result<std::optional<SlurmJob>> job =
        QuerySlurmJob(slurm_job_id_, plan_.cluster->slurm_conf);
    if (!job.ok()) {
      spdlog::warn("cannot ask Slurm about job {}: {}", slurm_job_id_, job.status().ToString());
      return;
    }
    if (!job->has_value()) return;
    const std::optional<std::string> ended = SlurmEndReason(**job);
    if (!ended) return;
    spdlog::warn("{}", *ended);
    cause_ = StopCause::kAllocationEnded;
    failure_ = {*ended, 0, {}};
  }

  bool AllExited() const {
    for (const Child& child : children_) {
      if (!child.exit) return false;
    }
    return true;
  }

  // Under mpirun: a rank that has ended badly ends the run, without waiting for mpirun.
  void CheckRankExits() {
    if (cause_ != StopCause::kNone) return;
    for (int rank = 0; rank < plan_.ranks.world_size(); ++rank) {
      const Result<RankExit> record = ReadRankExit(dir_, rank);
      if (record.ok() && !record->exit.success()) {
        spdlog::info("rank {} {}", rank, record->exit.Describe());
        cause_ = StopCause::kRankFailed;
        return;
      }
    }
  }

  // Under mpirun, once everything stopped: the rank that failed first, from the shims'
  // records; mpirun itself when no rank did (it could not start them, or it failed).
  Failure MpiFailure() const {
    std::optional<RankExit> first;
    for (int rank = 0; rank < plan_.ranks.world_size(); ++rank) {
      Result<RankExit> record = ReadRankExit(dir_, rank);
      if (!record.ok() || record->exit.success()) continue;
      if (!first || record->ended_at < first->ended_at) first = std::move(*record);
    }
    if (first) {
      return {fmt::format("rank {} {}", first->rank, first->exit.Describe()), ExitCode(first->exit),
              first->tail};
    }
    const Child& starter = children_[0];  // mpirun or srun
    const ExitStatus exit = starter.exit.value_or(ExitStatus{});
    return {fmt::format("{} {} before any rank failed", starter.name, exit.Describe()),
            ExitCode(exit), starter.capture->log().Tail()};
  }

  // The last lines of rank 0's log, for a failure that is not one rank's.
  std::vector<std::string> FirstRankTail() const {
    if (children_.empty()) return {};
    if (!UnderShim()) return children_[0].capture->log().Tail();
    Result<RankExit> record = ReadRankExit(dir_, 0);
    return record.ok() ? record->tail : children_[0].capture->log().Tail();
  }

  // Waits up to `timeout` for output, child exits or signals, and handles what came.
  void WaitForEvents(std::chrono::milliseconds timeout) {
    std::vector<pollfd> fds;
    fds.push_back({signals_->fd(), POLLIN, 0});
    for (const Child& child : children_) child.capture->AddPollFds(fds);
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
    if (ready < 0 && errno != EINTR) NoteInternal(ErrnoError("poll", errno));
    ReadSignals();
    DrainAvailable();
    Reap();
  }

  void ReadSignals() {
    for (const int signal : signals_->ReadStops()) {
      spdlog::warn("launcher received {}", SignalName(signal));
      if (cause_ == StopCause::kNone) {
        cause_ = StopCause::kSignal;
        stop_signal_ = signal;
      }
    }
  }

  // Reads whatever the pipes hold now, without blocking.
  void DrainAvailable() {
    for (Child& child : children_) {
      if (Status drained = child.capture->DrainAvailable(); !drained.ok()) NoteInternal(drained);
    }
  }

  void DrainPipes(std::chrono::milliseconds limit) {
    const std::int64_t deadline =
        clock_.MonotonicMicros() + std::chrono::microseconds(limit).count();
    while (AnyPipeOpen() && clock_.MonotonicMicros() < deadline) {
      WaitForEvents(std::chrono::milliseconds(50));
    }
    for (Child& child : children_) child.capture->Close();
  }

  bool AnyPipeOpen() const {
    for (const Child& child : children_) {
      if (child.capture->open()) return true;
    }
    return false;
  }

  // Collects every child that ended: ranks, and orphans re-parented to this subreaper.
  void Reap() {
    while (true) {
      int wait_status = 0;
      const pid_t pid = ::waitpid(-1, &wait_status, WNOHANG);
      if (pid <= 0) return;
      for (Child& child : children_) {
        if (child.pid != pid) continue;
        child.exit = ExitStatus::FromWaitStatus(wait_status);
        spdlog::info("{} {}", child.name, child.exit->Describe());
        if (!child.exit->success() && cause_ == StopCause::kNone) {
          cause_ = StopCause::kRankFailed;
          failure_ = {fmt::format("{} {}", child.name, child.exit->Describe()),
                      ExitCode(*child.exit), child.capture->log().Tail()};
        }
      }
    }
  }

  void FlushStaleLogs() {
    for (Child& child : children_) {
      if (Status flushed = child.capture->log().FlushStale(); !flushed.ok()) NoteInternal(flushed);
    }
  }

  // Moves what the ranks logged into the store. Failures are reported, not fatal: the
  // spools stay in the run directory, and the next call retries.
  // The final ingest waits out an unreachable server (RunRecorder::Patiently): the run's end is
  // only recorded once every metric is stored.
  void IngestMetrics(bool final) {
    for (std::size_t i = 0; i < ingestors_.size(); ++i) {
      const Result<tracking::IngestResult> result =
          final ? recorder_->Patiently(fmt::format("storing the metrics of rank {}", i),
                                       [&] { return ingestors_[i].Ingest(true); })
                : ingestors_[i].Ingest(false);
      if (!result.ok()) {
        spdlog::warn("metrics of rank {} not ingested: {}", i, result.status().ToString());
        if (final) {
          ingest_notes_.push_back(fmt::format("metrics of rank {} could not be stored: {}", i,
                                              result.status().message()));
        }
      } else if (result->torn_bytes > 0) {
        spdlog::warn("rank {}'s metric spool ends with {} torn bytes, skipped", i,
                     result->torn_bytes);
        ingest_notes_.push_back(fmt::format(
            "rank {} was stopped while logging; {} bytes of a torn record at the end of its "
            "metric spool were skipped",
            i, result->torn_bytes));
      }
    }
  }

  // The detail of the last status change: what happened to the metrics, if anything.
  std::string WithIngestNotes(std::string detail) const {
    for (const std::string& note : ingest_notes_) detail += (detail.empty() ? "" : "; ") + note;
    return detail;
  }

  // Step 5: every process of the run, ranks first, then anything they left behind.
  void StopEverything() {
    const SweepResult sweep = StopRunProcesses(
        ::getpid(), marker_, std::chrono::seconds(grace_seconds_),
        [this] {
          DrainAvailable();
          Reap();
        },
        Scope());
    stopped_processes_ += sweep.found;
    if (sweep.found > 0) {
      spdlog::info("stopped {} processes ({} needed SIGKILL, {} left)", sweep.found, sweep.killed,
                   sweep.left);
    }
    Reap();
  }

  Result<RunStatus> Finish() {
    switch (cause_) {
      case StopCause::kCancelRequested:
      case StopCause::kSignal:
        return Cancel();
      case StopCause::kInternal:
        return FailWith(fmt::format("launcher error: {}", internal_error_.message()));
      case StopCause::kAllocationEnded: {
        store::Transition failed;
        failed.failure_reason = failure_.reason;
        failed.failure_log_tail = FirstRankTail();
        return Finalize(RunStatus::kFailed, std::move(failed));
      }
      case StopCause::kDeadline: {
        store::Transition failed;
        failed.failure_reason =
            fmt::format("the run exceeded max_run_duration_seconds ({} s) and was stopped",
                        *plan_.max_run_duration_seconds);
        failed.failure_log_tail = FirstRankTail();
        return Finalize(RunStatus::kFailed, std::move(failed));
      }
      case StopCause::kRankFailed: {
        store::Transition failed;
        failed.failure_reason = failure_.reason;
        failed.exit_code = failure_.exit_code;
        failed.failure_log_tail = failure_.tail;
        return Finalize(RunStatus::kFailed, std::move(failed));
      }
      case StopCause::kNone: {
        store::Transition completed;
        completed.exit_code = 0;
        return Finalize(RunStatus::kCompleted, std::move(completed));
      }
    }
    return InternalError("unreachable stop cause");
  }

  static int ExitCode(const ExitStatus& exit) {
    return exit.signaled ? kSignalExitBase + exit.signal : exit.code;
  }

  // Running -> Finalizing -> `to`. A cancel that arrived first wins.
  Result<RunStatus> Finalize(RunStatus to, store::Transition outcome) {
    const std::string detail = children_.size() == 1 && children_[0].exit
                                   ? children_[0].name + " " + children_[0].exit->Describe()
                                   : "";
    if (Status moved = Move(RunStatus::kFinalizing, detail); !moved.ok()) {
      return AfterRefusal(moved);
    }
    IngestMetrics(/*final=*/true);
    outcome.detail = WithIngestNotes(outcome.failure_reason);
    return Record(to, "", std::move(outcome));
  }

  Result<RunStatus> Cancel() {
    const Result<store::Run> run = recorder_->Read();
    if (run.ok() && run->status != RunStatus::kCancelRequested && !store::IsTerminal(run->status)) {
      const std::string why = cause_ == StopCause::kSignal
                                  ? fmt::format("launcher received {}", SignalName(stop_signal_))
                                  : "cancel requested";
      if (Status moved = Move(RunStatus::kCancelRequested, why); !moved.ok()) {
        return AfterRefusal(moved);
      }
    }
    IngestMetrics(/*final=*/true);
    store::Transition canceled;
    if (!children_.empty() && children_[0].exit) {
      canceled.exit_code = ExitCode(*children_[0].exit);
    }
    return Record(RunStatus::kCanceled,
                  WithIngestNotes(fmt::format("{} processes were stopped", stopped_processes_)),
                  std::move(canceled));
  }

  Result<RunStatus> FailWith(std::string reason) {
    spdlog::error("{}", reason);
    IngestMetrics(/*final=*/true);
    store::Transition failed;
    failed.failure_reason = reason;
    failed.detail = std::move(reason);
    failed.failure_log_tail = FirstRankTail();
    return Record(RunStatus::kFailed, failed.detail, std::move(failed));
  }

  Result<RunStatus> Record(RunStatus to, std::string detail, store::Transition transition) {
    // Every process of the run has stopped by now: its slots go back before the report,
    // which may wait out an unreachable store.
    if (slots_) slots_->Leave();
    transition.to = to;
    if (transition.detail.empty()) transition.detail = std::move(detail);
    const Result<store::Run> run = recorder_->Transition(transition);
    if (!run.ok()) return run.status();
    spdlog::info("run {} is {}{}", plan_.run_id, store::RunStatusName(to),
                 transition.failure_reason.empty() ? "" : ": " + transition.failure_reason);
    return to;
  }

  Status Move(RunStatus to, std::string detail) {
    store::Transition transition;
    transition.to = to;
    transition.detail = std::move(detail);
    KILN_RETURN_IF_ERROR(recorder_->Transition(transition).status());
    StopHereIfAsked(to);
    return Status::Ok();
  }

  // KILN_FAULT_STOP_AT: the fault suite kills the launcher in states that last milliseconds
  // by having it stop itself there (docs/testing.md).
  static void StopHereIfAsked(RunStatus reached) {
    static const std::string stop_at = ReadTunable(kFaultStopAt);
    if (!stop_at.empty() && stop_at == store::RunStatusName(reached)) ::raise(SIGSTOP);
  }

  // A transition was refused: the status moved under us, normally to CancelRequested.
  Result<RunStatus> AfterRefusal(const Status& refused) {
    if (refused.code() != StatusCode::kFailedPrecondition) return refused;
    KILN_ASSIGN_OR_RETURN(const store::Run run, recorder_->Read());
    if (run.status == RunStatus::kCancelRequested) {
      StopEverything();
      return Cancel();
    }
    if (store::IsTerminal(run.status)) return run.status;
    return refused;
  }

  // True once a cancel was asked for, through the store or a signal.
  bool CancelSeen() {
    ReadSignals();
    if (cause_ == StopCause::kSignal || cause_ == StopCause::kCancelRequested) return true;
    const Result<store::Run> run = store_->GetRun(plan_.run_id);
    if (!run.ok()) {
      spdlog::warn("cannot read run status: {}", run.status().ToString());
      return false;
    }
    if (run->status == RunStatus::kCancelRequested) cause_ = StopCause::kCancelRequested;
    return cause_ == StopCause::kCancelRequested;
  }

  void NoteInternal(const Status& status) {
    spdlog::error("{}", status.ToString());
    if (cause_ == StopCause::kNone) {
      cause_ = StopCause::kInternal;
      internal_error_ = status;
    }
  }

  const LauncherOptions options_;
  const RunDir dir_;
  ProcessSpawner& spawner_;
  const Clock& clock_;
  RunPlan plan_;
  StoreAccess access_;  // handed on to the rank shims of a cluster run, never to a rank
  std::unique_ptr<store::Store> store_;
  bool remote_store_ = false;  // a Kiln server's, across a network
  std::int64_t patience_seconds_ = 0;
  std::optional<LauncherLock> lock_;
  std::optional<LauncherSignals> signals_;
  std::optional<RunRecorder> recorder_;  // every report about the run goes through it
  std::string marker_;
  std::int64_t grace_seconds_ = 0;
  std::string slurm_job_id_;  // the allocation of a cluster run
  // The job's environment, held in use (prune leaves it alone) until the launcher exits.
  std::optional<env::ReadyEnvironment> environment_;
  std::optional<SlotTicket> slots_;  // the run's place or slots on local
  struct {
    bool prepared = false;   // Prepare() ran while the run waited
    bool started = false;    // the rank started while the run waited
    bool abandoned = false;  // it ended before its turn: the rank starts cold
    UniqueFd gate;           // the launcher's end of the rank's gate, until it is let go
  } warm_;
  std::vector<Child> children_;                     // the ranks, or mpirun or srun
  std::vector<tracking::SpoolIngestor> ingestors_;  // one per rank of the world, by rank
  std::vector<std::string> ingest_notes_;
  std::int64_t running_since_micros_ = 0;
  StopCause cause_ = StopCause::kNone;
  Failure failure_;  // when cause_ is kRankFailed
  int stop_signal_ = 0;
  int stopped_processes_ = 0;
  Status internal_error_;
};

}  // namespace

Result<RunStatus> RunLauncher(const LauncherOptions& options) {
  Launcher launcher(options);
  return launcher.Run();
}

}  // namespace kiln::launch
