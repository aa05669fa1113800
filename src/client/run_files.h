#pragma once

// RunFiles: what a client reads from a run directory (the ranks' logs and the artifacts
// under outputs/), from wherever the run directory is. Runs of the embedded store are read
// on this machine; runs of a Kiln server through its API (/v1/runs/{id}/logs/{rank} and
// /v1/runs/{id}/artifacts), so `kiln logs` and `kiln download` are the same commands for
// both. Workspace::files() gives the one that fits.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client/artifacts.h"
#include "common/result.h"
#include "store/http/api_client.h"
#include "store/records.h"

namespace kiln::client {

// ReadLog's rank for logs/environment.log, the build of the run's environment
// (/v1/runs/{id}/logs/environment through a server).
inline constexpr int kEnvironmentLog = -1;

class RunFiles {
 public:
  virtual ~RunFiles() = default;

  // Up to `max_bytes` of rank `rank`'s log from byte `offset`; empty when nothing follows
  // it yet (also when the rank has not started).
  virtual Result<std::string> ReadLog(const store::Run& run, int rank, std::uint64_t offset,
                                      std::size_t max_bytes) = 0;
  // As client/artifacts.h describes.
  virtual Result<std::vector<Artifact>> ListArtifacts(const store::Run& run) = 0;
  virtual Status DownloadArtifact(const store::Run& run, std::string_view name,
                                  const std::filesystem::path& destination) = 0;
};

std::unique_ptr<RunFiles> LocalRunFiles();
std::unique_ptr<RunFiles> ServerRunFiles(std::shared_ptr<store::http::ApiClient> api);

// Reads up to `max_bytes` of `path` from `offset`: the local form of RunFiles::ReadLog.
Result<std::string> ReadFileFrom(const std::filesystem::path& path, std::uint64_t offset,
                                 std::size_t max_bytes);

}  // namespace kiln::client
