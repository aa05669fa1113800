#pragma once

// ComputeTarget: where runs execute. A target only finds room and starts `kiln launch` on
// it; everything a rank sees is made by the launcher, so every target runs jobs the same way.
//
// Targets: local/ (this machine). Slurm comes later, behind the same interface.

#include <string_view>

#include "common/result.h"
#include "launch/launcher_lock.h"
#include "launch/run_dir.h"
#include "spec/job_spec.h"
#include "spec/spec_loader.h"
#include "store/records.h"

namespace kiln::compute {

enum class LauncherState {
  kAlive,    // the launcher runs
  kDead,     // the launcher is gone: the run will never finish by itself
  kUnknown,  // this machine cannot tell (another host's run)
};

class ComputeTarget {
 public:
  virtual ~ComputeTarget() = default;

  virtual std::string_view name() const = 0;

  // Whether this target can run the job at all. InvalidArgument (or Unimplemented) with
  // messages worded through `source`, e.g. "job.yaml: node_count: ...".
  virtual Status Admit(const spec::JobSpec& spec, const spec::SpecSource& source) const = 0;

  // Starts the launcher for a Queued run whose directory and plan.json exist. `lock` holds
  // launcher.lock; a target that runs the launcher on this machine hands it over, so the
  // lock is never free while the launcher lives. Returns once the launcher runs.
  virtual Status Submit(const launch::RunDir& dir, launch::LauncherLock lock) = 0;

  // Whether the launcher of a run that is not terminal still runs.
  virtual Result<LauncherState> Probe(const store::Run& run) const = 0;
};

}  // namespace kiln::compute
