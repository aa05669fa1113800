#pragma once

// `kiln gc` (POST /v1/gc on a server): removes what no run needs any more, on this machine:
//   - run folders under $KILN_HOME/runs/ whose run the store no longer has (kiln delete
//     removes them itself; these are the ones it could not, or older Kilns left);
//   - snapshots no run or model version names, and the objects only they held;
//   - job environments no run used;
//   - the store's journal, compacted (SQLite: the WAL truncated).
// Only what is older than a minimum age goes (default an hour): a snapshot a client is still
// sending, a run folder being made. Submits on this machine hold off a collection while
// they make a snapshot and a run (HoldOffGc), so none is collected half-made.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/workspace.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace kiln::client {

struct GcOptions {
  bool dry_run = false;  // say what would go, remove nothing
  std::chrono::seconds min_age{3600};
};

struct GcReport {
  std::vector<std::string> run_folders;  // removed (or, dry, to remove)
  std::uint64_t run_folder_bytes = 0;
  std::size_t manifests = 0;
  std::size_t objects = 0;
  std::uint64_t snapshot_bytes = 0;
  std::vector<std::string> environments;  // hashes
  std::string store;                      // what compacting the store did
};

// A collection of this workspace's home, holding the home's gc lock exclusively while it
// runs (a submit in progress finishes first); through a server, the server's (POST /v1/gc).
Result<GcReport> CollectGarbage(Workspace& workspace, const GcOptions& options);

// POST /v1/gc's request and reply.
nlohmann::json GcOptionsToJson(const GcOptions& options);
Result<GcOptions> GcOptionsFromJson(const nlohmann::json& json);
nlohmann::json GcReportToJson(const GcReport& report);
Result<GcReport> GcReportFromJson(const nlohmann::json& json);

// A shared hold on the home's gc lock: a collection waits until it is released. Submit holds
// one from its snapshot to its run record.
Result<UniqueFd> HoldOffGc(const std::filesystem::path& home);

}  // namespace kiln::client
