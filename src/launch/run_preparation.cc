#include "launch/run_preparation.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <string>

#include "common/files.h"
#include "data/resolver.h"
#include "launch/rank_log.h"
#include "snapshot/snapshot_store.h"

namespace kiln::launch {

Status PrepareRun(const RunPlan& plan, const RunDir& dir, const Clock& clock,
                  const std::function<bool()>& canceled,
                  std::optional<env::ReadyEnvironment>& environment) {
  if (!plan.source_staged) {
    const snapshot::SnapshotStore snapshots(plan.snapshot_store);
    KILN_RETURN_IF_ERROR(snapshots.Materialize(plan.snapshot_id, dir.src()));
    spdlog::info("materialized snapshot {} into {}", plan.snapshot_id, dir.src().string());
  }
  // A script's relative outputs/ and logs/ land in the run's folders. A source that keeps a
  // logs/ of its own (re-included by its .kilnignore) keeps it, and no link is made.
  for (const auto& [name, target] :
       {std::pair{"outputs", "../outputs"}, std::pair{"logs", "../script-logs"}}) {
    std::error_code error;
    const std::filesystem::path link = dir.src() / name;
    if (std::filesystem::exists(std::filesystem::symlink_status(link, error))) continue;
    // Run directories made before script-logs/ existed get it now.
    KILN_RETURN_IF_ERROR(CreateDirectories((dir.src() / target).lexically_normal()));
    std::filesystem::create_directory_symlink(target, link, error);
    if (error) {
      return InternalError(fmt::format("cannot link {}: {}", link.string(), error.message()));
    }
  }
  if (canceled()) return Status::Ok();
  KILN_RETURN_IF_ERROR(data::DownloadBindings(plan.data));
  if (canceled()) return Status::Ok();
  if (!plan.python_environment) return Status::Ok();
  // On a cluster this is the allocation's first node: built once, before any rank.
  const EnvironmentPlan& planned = *plan.python_environment;
  env::EnvironmentCache cache(planned.cache_root);
  // Its lines in the ranks' log format, so `kiln logs` shows them with the ranks'.
  KILN_ASSIGN_OR_RETURN(RankLog log, RankLog::Open(dir.environment_log(), clock));
  const auto line = [&](std::string_view text) {
    log.Write(Stream::kOut, std::string(text) + "\n").IgnoreError();
  };
  KILN_ASSIGN_OR_RETURN(environment, cache.Ensure(planned.definition, line, canceled));
  if (environment->hash != planned.hash) {
    return InternalError(fmt::format(
        "the environment's hash here is {}, but submit planned {}: is the base interpreter {} a "
        "different file on this machine?",
        environment->hash, planned.hash, planned.definition.python));
  }
  spdlog::info("environment {} {} ({})", planned.hash.substr(0, 12),
               environment->built ? "built" : "reused", environment->root.string());
  return Status::Ok();
}

}  // namespace kiln::launch
