#pragma once

// Workspace: one Kiln installation as a user sees it: the store, the folders for snapshots
// and run directories, and the compute targets. The CLI and the Python SDK both start from
// a Workspace, so they share every operation below it.
//
// Layout under the home folder ($KILN_HOME, default ~/.kiln):
//   kiln.db      the embedded store
//   snapshots/   the content-addressed snapshot store
//   runs/<id>/   run directories
//   envs/        built job environments (env/environment_cache.h)
//   environments/  registered environments of an older Kiln, taken into the store
//                  (client/environment_registry.h)
//   local-queue/ the local target's slots and the runs waiting for them
//
// With a Kiln server (KILN_SERVER, or `--server`), the store is the server's (HttpStore),
// run directories are read through it (files()), and jobs are submitted to it; the local
// snapshot store still keeps what was sent, so an unchanged folder is neither read nor
// sent again. A server's own workspace says how its launchers report back
// (LauncherReporting).
//
// Thread-safe once opened: the store and the file readers are, and the rest is read-only.

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "client/run_files.h"
#include "common/result.h"
#include "common/subprocess.h"
#include "compute/compute_target.h"
#include "compute/targets.h"
#include "store/http/api_client.h"
#include "store/store.h"

namespace kiln::client {

// How the launchers of runs submitted to a server reach it: the URL they use, the CA file
// for https, and a fresh per-run token (valid for that run only).
struct LauncherReporting {
  std::string store_url;
  std::string ca_file;
  std::function<Result<std::string>(const std::string& run_id)> mint_run_token;
  std::function<void(const std::string& run_id)> revoke_run_token;  // the submit failed
};

struct WorkspaceOptions {
  std::filesystem::path home;          // KILN_HOME's value when empty
  std::filesystem::path kiln_program;  // runs `kiln launch`; this executable when empty
  ProcessSpawner* spawner = nullptr;   // RealSpawner() when null
  std::string store_url;               // KILN_STORE's value when empty (embedded store only)
  // A Kiln server: KILN_SERVER's value when unset; "" for none. Its token is KILN_TOKEN's
  // value and its CA file KILN_CA_CERT's when these are empty.
  std::optional<std::string> server_url;
  std::string token;
  std::string ca_file;
  std::optional<LauncherReporting> launcher_reporting;  // a server's own workspace only
};

class Workspace {
 public:
  static Result<std::unique_ptr<Workspace>> Open(const WorkspaceOptions& options = {});

  store::Store& store() { return *store_; }
  RunFiles& files() { return *files_; }
  // The server this workspace uses; null for the embedded store.
  store::http::ApiClient* server() const { return server_.get(); }
  const std::optional<LauncherReporting>& launcher_reporting() const { return reporting_; }
  const std::filesystem::path& home() const { return home_; }
  std::filesystem::path runs_root() const { return home_ / "runs"; }
  std::filesystem::path snapshots_root() const { return home_ / "snapshots"; }
  std::filesystem::path environments_root() const { return home_ / "environments"; }
  // The local machine's built environments (a Slurm target's sit beside its runs root).
  std::filesystem::path envs_root() const { return home_ / "envs"; }
  // The local target's slot queue (launch/slot_queue.h).
  std::filesystem::path local_queue() const { return home_ / "local-queue"; }
  const std::string& store_url() const { return store_url_; }
  // The kiln executable that detached helpers (launchers, sweep drivers) run, and how they
  // are started.
  const std::filesystem::path& kiln_program() const { return kiln_program_; }
  ProcessSpawner& spawner() const { return spawner_ != nullptr ? *spawner_ : RealSpawner(); }

  // NotFound for an unknown target name.
  Result<std::unique_ptr<compute::ComputeTarget>> Target(std::string_view name) const;
  // Checks and stores a compute target (compute::RegisterComputeTarget); with a server,
  // the server checks it.
  Status RegisterTarget(const store::ComputeTargetRecord& target);
  // Forgets a compute target; FailedPrecondition while runs on it have not ended (with a
  // server, the server checks).
  Status RemoveTarget(std::string_view name);

 private:
  Workspace() = default;
  compute::TargetContext TargetContext() const;

  std::filesystem::path home_;
  std::string store_url_;
  std::filesystem::path kiln_program_;
  ProcessSpawner* spawner_ = nullptr;
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<store::http::ApiClient> server_;
  std::unique_ptr<RunFiles> files_;
  std::optional<LauncherReporting> reporting_;
};

}  // namespace kiln::client
