#include "sweep/sweep_host.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "compute/local/local_target.h"
#include "sweep/sweep_control.h"
#include "sweep/sweep_driver.h"

namespace kiln::sweep {

SweepHost::~SweepHost() {
  std::map<std::string, std::unique_ptr<Driven>> driven;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    driven.swap(driven_);
  }
  stopping_changed_.notify_all();
  if (adopter_.joinable()) adopter_.join();
  for (auto& [id, one] : driven) one->stop = true;
  for (auto& [id, one] : driven) {
    if (one->thread.joinable()) one->thread.join();
  }
}

Status SweepHost::Start(const store::Run& sweep) {
  std::lock_guard guard(mu_);
  if (stopping_)
    return UnavailableError("the server is stopping; resume the sweep after it starts");
  ReapLocked();
  // Driven here already: a submit, a resume and the adopter may all ask for one sweep.
  if (driven_.contains(sweep.id)) return Status::Ok();
  Result<launch::LauncherLock> lock = launch::LauncherLock::Acquire(DriverLock(sweep));
  if (!lock.ok()) {
    if (lock.status().code() != StatusCode::kFailedPrecondition) return lock.status();
    const std::optional<int> owner = launch::LauncherLockOwner(DriverLock(sweep));
    return FailedPreconditionError(
        fmt::format("sweep {} has a driver already{}", sweep.id,
                    owner ? fmt::format(" (process {})", *owner) : std::string()));
  }
  // Read again under the lock: a sweep listed as active may have ended since (its driver
  // finished between the listing and here).
  KILN_ASSIGN_OR_RETURN(const store::Run current, workspace_.store().GetRun(sweep.id));
  if (store::IsTerminal(current.status)) return Status::Ok();
  KILN_RETURN_IF_ERROR(lock->RecordOwner());
  auto driven = std::make_unique<Driven>();
  Driven& slot = *driven;
  const std::string id = sweep.id;
  slot.thread = std::thread([this, id, held = std::move(lock).value(), &slot]() mutable {
    Drive(id, std::move(held), slot);
  });
  driven_[id] = std::move(driven);
  return Status::Ok();
}

void SweepHost::Drive(const std::string& id, launch::LauncherLock lock, Driven& driven) {
  (void)lock;  // held for as long as this thread drives the sweep
  // Nothing a driver meets may end the server: an exception fails this sweep alone.
  try {
    DriveSweep(id, driven);
  } catch (const std::exception& error) {
    spdlog::error("sweep {}: {}", id, error.what());
    MarkSweepFailed(workspace_.store(), id,
                    fmt::format("its driver stopped on an unexpected error: {}", error.what()));
  }
  driven.done = true;
}

void SweepHost::DriveSweep(const std::string& id, Driven& driven) {
  Result<std::unique_ptr<SweepDriver>> driver = SweepDriver::Open(workspace_, id);
  if (!driver.ok() && driver.status().code() == StatusCode::kUnavailable) {
    spdlog::warn("sweep {}: {}; its driver starts again within {} s", id,
                 driver.status().ToString(), kAdoptInterval.count());
  } else if (!driver.ok()) {
    spdlog::error("sweep {}: {}", id, driver.status().ToString());
    MarkSweepFailed(workspace_.store(), id, driver.status().message());
  } else {
    spdlog::info("driving sweep {}", id);
    const Status driven_status = (*driver)->Run(poll_, driven.stop);
    spdlog::info("sweep {}: {}", id,
                 driven.stop ? "its driver stopped with the server"
                             : (driven_status.ok() ? "ended" : driven_status.ToString()));
  }
}

void SweepHost::ReapLocked() {
  for (auto it = driven_.begin(); it != driven_.end();) {
    if (it->second->done) {
      it->second->thread.join();
      it = driven_.erase(it);
    } else {
      ++it;
    }
  }
}

bool SweepHost::Driving(const std::string& id) {
  std::lock_guard lock(mu_);
  const auto driven = driven_.find(id);
  return driven != driven_.end() && !driven->second->done;
}

Status SweepHost::ResumeAll() {
  KILN_RETURN_IF_ERROR(Adopt(/*quiet=*/false));
  std::lock_guard lock(mu_);
  if (!adopter_.joinable() && !stopping_) adopter_ = std::thread([this] { AdoptEvery(); });
  return Status::Ok();
}

Status SweepHost::Adopt(bool quiet) {
  store::RunFilter active;
  active.only_active = true;
  KILN_ASSIGN_OR_RETURN(const std::vector<store::Run> runs, workspace_.store().ListRuns(active));
  const std::string here = compute::LocalHostName();
  for (const store::Run& run : runs) {
    if (run.kind != store::RunKind::kSweep || run.host != here) continue;
    if (Driving(run.id)) continue;
    const Status started = Start(run);
    if (started.ok()) {
      if (quiet) spdlog::info("sweep {} had no driver; driving it", run.id);
    } else if (!quiet || started.code() != StatusCode::kFailedPrecondition) {
      spdlog::warn("sweep {} not resumed: {}", run.id, started.message());
    }
  }
  return Status::Ok();
}

void SweepHost::AdoptEvery() {
  std::unique_lock lock(mu_);
  while (!stopping_changed_.wait_for(lock, kAdoptInterval, [this] { return stopping_; })) {
    lock.unlock();
    const Status adopted = Adopt(/*quiet=*/true);
    if (!adopted.ok()) spdlog::warn("looking for sweeps without a driver: {}", adopted.message());
    lock.lock();
  }
}

}  // namespace kiln::sweep
