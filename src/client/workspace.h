#pragma once

// Workspace: one Kiln installation as a user sees it: the store, the folders for snapshots
// and run directories, and the compute targets. The CLI and the Python SDK both start from
// a Workspace, so they share every operation below it.
//
// Layout under the home folder ($KILN_HOME, default ~/.kiln):
//   kiln.db      the embedded store
//   snapshots/   the content-addressed snapshot store
//   runs/<id>/   run directories
//
// Not thread-safe: one per thread (the store inside is thread-safe, the rest is state-free).

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/subprocess.h"
#include "compute/compute_target.h"
#include "store/store.h"

namespace kiln::client {

struct WorkspaceOptions {
  std::filesystem::path home;          // KILN_HOME's value when empty
  std::filesystem::path kiln_program;  // runs `kiln launch`; this executable when empty
  ProcessSpawner* spawner = nullptr;   // RealSpawner() when null
};

class Workspace {
 public:
  static Result<std::unique_ptr<Workspace>> Open(const WorkspaceOptions& options = {});

  store::Store& store() { return *store_; }
  const std::filesystem::path& home() const { return home_; }
  std::filesystem::path runs_root() const { return home_ / "runs"; }
  std::filesystem::path snapshots_root() const { return home_ / "snapshots"; }
  const std::string& store_url() const { return store_url_; }

  // NotFound for an unknown target name.
  Result<std::unique_ptr<compute::ComputeTarget>> Target(std::string_view name) const;

 private:
  Workspace() = default;

  std::filesystem::path home_;
  std::string store_url_;
  std::filesystem::path kiln_program_;
  ProcessSpawner* spawner_ = nullptr;
  std::unique_ptr<store::Store> store_;
};

}  // namespace kiln::client
