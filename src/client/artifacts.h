#pragma once

// A run's artifacts: the files under outputs/ in its run directory, named as
// "outputs/<path>", and what its script wrote under logs/ (kept in script-logs/), named as
// "logs/<path>".

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/records.h"

namespace kiln::client {

struct Artifact {
  std::string name;  // "outputs/model.pt"
  std::uint64_t size = 0;
};

// Every regular file under outputs/ and the script's logs/, sorted by name.
Result<std::vector<Artifact>> ListArtifacts(const store::Run& run);

// Copies `name` (a file or folder: "outputs", "outputs/model.pt", "logs/tb") into the
// folder `destination`, as `cp -r` would: a file lands as destination/<its name>, a folder as
// destination/<folder name>/... InvalidArgument for a name outside both (including one
// that is a symbolic link leading out); inside a folder such links are skipped, as
// ListArtifacts skips them. NotFound for a missing name.
Status DownloadArtifact(const store::Run& run, std::string_view name,
                        const std::filesystem::path& destination);

// Where the artifact `name` is, checked as DownloadArtifact checks it.
Result<std::filesystem::path> ArtifactPath(const store::Run& run, std::string_view name);
// The same for a regular file only: InvalidArgument for a folder.
Result<std::filesystem::path> ArtifactFile(const store::Run& run, std::string_view name);

}  // namespace kiln::client
