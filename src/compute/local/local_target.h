#pragma once

// LocalTarget: runs on this machine. Submit starts `kiln launch` detached (its own session,
// re-parented away from the submitting process), so the run goes on after `kiln submit`
// returns and is untouched by the terminal closing. Liveness is the launcher lock.

#include <filesystem>
#include <string>

#include "common/subprocess.h"
#include "compute/compute_target.h"

namespace kiln::compute {

class LocalTarget : public ComputeTarget {
 public:
  static constexpr std::string_view kName = "local";

  // `kiln_program` is the kiln executable that runs `kiln launch`.
  LocalTarget(std::filesystem::path kiln_program, ProcessSpawner& spawner);

  std::string_view name() const override { return kName; }
  Status Admit(const spec::JobSpec& spec, const spec::SpecSource& source) const override;
  Status Submit(const launch::RunDir& dir, launch::LauncherLock lock,
                const launch::StoreAccess& access) override;
  Result<Probe> Check(const store::Run& run) const override;
  // Sweeps the machine for processes carrying the run's marker.
  Result<std::string> StopRemains(const store::Run& run) override;

 private:
  std::filesystem::path kiln_program_;
  ProcessSpawner& spawner_;
  std::string host_;
};

// This machine's host name.
std::string LocalHostName();

}  // namespace kiln::compute
