#pragma once

// LocalTarget: runs on this machine. Submit starts `kiln launch` detached (its own session,
// re-parented away from the submitting process), so the run goes on after `kiln submit`
// returns and is untouched by the terminal closing. Liveness is the launcher lock.
//
// Its capacity is slots (launch/slot_queue.h): the machine's cores, or its GPUs for a
// use_gpu job, unless `kiln compute set local` chose other counts. A run takes
// ranks x slots_per_rank of them and its launcher waits Queued, first come first served,
// until they are free; a run that could never fit is refused at submit.

#include <filesystem>
#include <string>

#include "common/subprocess.h"
#include "compute/compute_target.h"
#include "launch/slot_queue.h"

namespace kiln::compute {

class LocalTarget : public ComputeTarget {
 public:
  static constexpr std::string_view kName = "local";

  // `kiln_program` is the kiln executable that runs `kiln launch`; `queue_dir` holds the
  // slot queue of the Kiln home (<home>/local-queue).
  LocalTarget(std::filesystem::path kiln_program, ProcessSpawner& spawner,
              std::filesystem::path queue_dir);

  std::string_view name() const override { return kName; }
  // Also refuses a run needing more slots than the target has in all.
  Status Admit(const spec::JobSpec& spec, const spec::SpecSource& source) const override;
  std::optional<launch::SlotRequest> Slots(const spec::JobSpec& spec) const override;
  Status Submit(const launch::RunDir& dir, launch::LauncherLock lock,
                const launch::StoreAccess& access) override;
  // A Queued run's detail is its place in the queue ("waiting for 2 cores; 1 of 2 free;
  // 3rd in line").
  Result<Probe> Check(const store::Run& run) const override;
  // Sweeps the machine for processes carrying the run's marker.
  Result<std::string> StopRemains(const store::Run& run) override;

 private:
  std::filesystem::path kiln_program_;
  ProcessSpawner& spawner_;
  launch::SlotQueue queue_;
  std::string host_;
};

// This machine's host name.
std::string LocalHostName();

}  // namespace kiln::compute
