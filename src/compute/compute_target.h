#pragma once

// ComputeTarget: where runs execute. A target only finds room and starts `kiln launch` on
// it; everything a rank sees is made by the launcher, so every target runs jobs the same way.
//
// Targets: local/ (this machine, always there as "local") and slurm/ (a Slurm cluster,
// registered with `kiln compute add`).

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "launch/launcher_lock.h"
#include "launch/run_dir.h"
#include "launch/run_plan.h"
#include "launch/store_access.h"
#include "spec/job_spec.h"
#include "spec/spec_loader.h"
#include "store/records.h"

namespace kiln::compute {

enum class LauncherState {
  kAlive,    // the launcher runs, or will (a job waiting in a cluster's queue)
  kDead,     // the launcher is gone: the run will never finish by itself
  kUnknown,  // this machine cannot tell (another host's run, a scheduler out of reach)
};

struct Probe {
  LauncherState state = LauncherState::kUnknown;
  // What the target says of the run now, for people: "Slurm job 12 is PENDING (Resources)".
  std::string detail;
  // For kDead, why the run ended when the target knows ("Slurm ended job 12 with
  // NODE_FAIL: ..."); empty when only the launcher's absence is known.
  std::string end_reason;
};

class ComputeTarget {
 public:
  virtual ~ComputeTarget() = default;

  virtual std::string_view name() const = 0;

  // Whether this target can run the job at all. InvalidArgument (or Unimplemented) with
  // messages worded through `source`, e.g. "job.yaml: node_count: ...".
  virtual Status Admit(const spec::JobSpec& spec, const spec::SpecSource& source) const = 0;

  // Where the directories of this target's runs go: `workspace_runs` unless the target
  // has its own (a cluster's shared filesystem).
  virtual std::filesystem::path RunsRoot(const std::filesystem::path& workspace_runs) const {
    return workspace_runs;
  }

  // Set for a target whose ranks spread over a cluster allocation; the launcher needs it.
  // Such a target's nodes need not see the snapshot store: the submitting side stages the
  // source into the run directory.
  virtual std::optional<launch::ClusterPlan> Cluster() const { return std::nullopt; }

  // Set for a target whose runs wait for slots on this machine (launch/slot_queue.h): what
  // the job's launcher asks the queue for.
  virtual std::optional<launch::SlotRequest> Slots(const spec::JobSpec& /*spec*/) const {
    return std::nullopt;
  }

  // Starts the launcher for a Queued run whose directory and plan.json exist. `lock` holds
  // launcher.lock; a target that runs the launcher on this machine hands it over, so the
  // lock is never free while the launcher lives. `access` is how the launcher reaches the
  // store: the target hands it over in the launcher's environment (store_access.h), never
  // in a file or on a command line. Returns once the launcher runs (or, for a cluster,
  // once its job is queued).
  virtual Status Submit(const launch::RunDir& dir, launch::LauncherLock lock,
                        const launch::StoreAccess& access) = 0;

  // Whether the launcher of a run that is not terminal still runs.
  virtual Result<Probe> Check(const store::Run& run) const = 0;

  // Check() for each of `runs`, one answer each, in order. Listing runs checks every
  // unfinished one, so a target that can ask about all of them at once does (Slurm: one
  // squeue, however many runs).
  virtual std::vector<Result<Probe>> CheckAll(const std::vector<store::Run>& runs) const {
    std::vector<Result<Probe>> probes;
    probes.reserve(runs.size());
    for (const store::Run& run : runs) probes.push_back(Check(run));
    return probes;
  }

  // A cancel was recorded for the run (CancelRequested): anything beyond the launcher that
  // must hear of it (a cluster's queue). The launcher itself sees it in the store.
  virtual Status Cancel(const store::Run& /*run*/) { return Status::Ok(); }

  // The run's launcher is dead: stops whatever of the run is left, and says what that was
  // ("2 processes of the run were stopped").
  virtual Result<std::string> StopRemains(const store::Run& run) = 0;
};

// What every target refuses alike: nccl without GPUs. Empty when the job is fine.
std::string GpuBackendProblem(const spec::JobSpec& spec, const spec::SpecSource& source);

}  // namespace kiln::compute
