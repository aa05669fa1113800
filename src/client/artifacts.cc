#include "client/artifacts.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/files.h"
#include "launch/run_dir.h"

namespace kiln::client {
namespace fs = std::filesystem;

namespace {
constexpr std::string_view kOutputs = "outputs";

// Copies a tree, skipping what symbolic links lead to outside `root` (as ListArtifacts does).
Status CopyConfined(const fs::path& from, const fs::path& to, const fs::path& root) {
  if (!IsWithin(from, root)) return Status::Ok();
  std::error_code error;
  if (fs::is_directory(from, error)) {
    KILN_RETURN_IF_ERROR(CreateDirectories(to));
    for (const fs::directory_entry& entry : fs::directory_iterator(from, error)) {
      KILN_RETURN_IF_ERROR(CopyConfined(entry.path(), to / entry.path().filename(), root));
    }
    return Status::Ok();
  }
  if (!fs::is_regular_file(from, error)) return Status::Ok();
  const auto mode = static_cast<unsigned>(fs::status(from, error).permissions());
  fs::remove(to, error);
  return CopyFileContents(from, to, mode);
}
}  // namespace

Result<std::vector<Artifact>> ListArtifacts(const store::Run& run) {
  const fs::path outputs = launch::RunDir(run.run_dir).outputs();
  std::vector<Artifact> artifacts;
  std::error_code error;
  if (!fs::exists(outputs, error)) return artifacts;
  for (auto it = fs::recursive_directory_iterator(outputs, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (!it->is_regular_file(error) || !IsWithin(it->path(), outputs)) continue;
    const std::string relative = it->path().lexically_relative(outputs).generic_string();
    artifacts.push_back({std::string(kOutputs) + "/" + relative, it->file_size(error)});
  }
  if (error) {
    return InternalError(fmt::format("cannot list {}: {}", outputs.string(), error.message()));
  }
  std::sort(artifacts.begin(), artifacts.end(),
            [](const Artifact& a, const Artifact& b) { return a.name < b.name; });
  return artifacts;
}

Result<fs::path> ArtifactPath(const store::Run& run, std::string_view name) {
  const fs::path normal = fs::path(std::string(name)).lexically_normal();
  std::string text = normal.generic_string();
  if (text.ends_with('/')) text.pop_back();
  if (text != kOutputs && !text.starts_with(std::string(kOutputs) + "/")) {
    return InvalidArgumentError(fmt::format(
        "'{}' is not an artifact; artifacts are under outputs/ (see 'kiln artifacts {}')", name,
        run.id));
  }
  const fs::path outputs = launch::RunDir(run.run_dir).outputs();
  const fs::path source = launch::RunDir(run.run_dir).root() / text;
  std::error_code error;
  if (!fs::exists(source, error)) {
    return NotFoundError(fmt::format("run {} has no artifact '{}'", run.id, text));
  }
  if (!IsWithin(source, outputs)) {
    return InvalidArgumentError(
        fmt::format("'{}' leads outside the run's outputs; it is not downloaded", text));
  }
  return source;
}

Result<fs::path> ArtifactFile(const store::Run& run, std::string_view name) {
  KILN_ASSIGN_OR_RETURN(const fs::path path, ArtifactPath(run, name));
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    return InvalidArgumentError(
        fmt::format("artifact '{}' of run {} is a folder; download the files in it", name, run.id));
  }
  return path;
}

Status DownloadArtifact(const store::Run& run, std::string_view name, const fs::path& destination) {
  KILN_ASSIGN_OR_RETURN(const fs::path source, ArtifactPath(run, name));
  KILN_RETURN_IF_ERROR(CreateDirectories(destination));
  const fs::path outputs = launch::RunDir(run.run_dir).outputs();
  return CopyConfined(source, destination / source.filename(), outputs);
}

}  // namespace kiln::client
