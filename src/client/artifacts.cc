#include "client/artifacts.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "common/files.h"
#include "launch/run_dir.h"

namespace kiln::client {
namespace fs = std::filesystem;

namespace {

// The folders whose files are artifacts, by the name their artifacts start with.
struct ArtifactFolder {
  std::string_view name;
  fs::path path;
};

std::vector<ArtifactFolder> Folders(const store::Run& run) {
  const launch::RunDir dir(run.run_dir);
  return {{"logs", dir.script_logs()}, {"outputs", dir.outputs()}};
}

// "outputs/a/../b/" as "outputs/b".
std::string NormalName(std::string_view name) {
  std::string text = fs::path(std::string(name)).lexically_normal().generic_string();
  if (text.ends_with('/')) text.pop_back();
  return text;
}

// The folder `text` ("outputs", "logs/tb/events...") is in, or nullopt.
std::optional<ArtifactFolder> FolderOf(const store::Run& run, const std::string& text) {
  for (ArtifactFolder& folder : Folders(run)) {
    if (text == folder.name || text.starts_with(std::string(folder.name) + "/")) return folder;
  }
  return std::nullopt;
}

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
  std::vector<Artifact> artifacts;
  for (const ArtifactFolder& folder : Folders(run)) {
    std::error_code error;
    if (!fs::exists(folder.path, error)) continue;
    for (auto it = fs::recursive_directory_iterator(folder.path, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      if (!it->is_regular_file(error) || !IsWithin(it->path(), folder.path)) continue;
      const std::string relative = it->path().lexically_relative(folder.path).generic_string();
      artifacts.push_back({std::string(folder.name) + "/" + relative, it->file_size(error)});
    }
    if (error) {
      return InternalError(
          fmt::format("cannot list {}: {}", folder.path.string(), error.message()));
    }
  }
  std::sort(artifacts.begin(), artifacts.end(),
            [](const Artifact& a, const Artifact& b) { return a.name < b.name; });
  return artifacts;
}

Result<fs::path> ArtifactPath(const store::Run& run, std::string_view name) {
  const std::string text = NormalName(name);
  const std::optional<ArtifactFolder> folder = FolderOf(run, text);
  if (!folder) {
    return InvalidArgumentError(fmt::format(
        "'{}' is not an artifact; artifacts are under outputs/ and logs/ (see 'kiln artifacts "
        "{}')",
        name, run.id));
  }
  const fs::path source =
      text == folder->name ? folder->path : folder->path / text.substr(folder->name.size() + 1);
  std::error_code error;
  if (!fs::exists(source, error)) {
    return NotFoundError(fmt::format("run {} has no artifact '{}'", run.id, text));
  }
  if (!IsWithin(source, folder->path)) {
    return InvalidArgumentError(
        fmt::format("'{}' leads outside the run's {}; it is not downloaded", text, folder->name));
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
  const ArtifactFolder folder = *FolderOf(run, NormalName(name));
  // A whole folder lands under its artifact name: "logs", though the run keeps it in
  // script-logs/.
  const fs::path landed =
      source == folder.path ? fs::path(std::string(folder.name)) : source.filename();
  return CopyConfined(source, destination / landed, folder.path);
}

}  // namespace kiln::client
