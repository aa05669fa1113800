#include "client/run_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>

#include "common/files.h"
#include "common/unique_fd.h"
#include "launch/run_dir.h"

namespace kiln::client {
namespace fs = std::filesystem;

Result<std::string> ReadFileFrom(const fs::path& path, std::uint64_t offset,
                                 std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::string();
    return ErrnoError(fmt::format("cannot open {}", path.string()), errno);
  }
  std::string bytes(max_bytes, '\0');
  std::size_t filled = 0;
  while (filled < max_bytes) {
    const ssize_t n = ::pread(fd.get(), bytes.data() + filled, max_bytes - filled,
                              static_cast<off_t>(offset + filled));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(fmt::format("cannot read {}", path.string()), errno);
    }
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  bytes.resize(filled);
  return bytes;
}

namespace {

class Local : public RunFiles {
 public:
  Result<std::string> ReadLog(const store::Run& run, int rank, std::uint64_t offset,
                              std::size_t max_bytes) override {
    const launch::RunDir dir(run.run_dir);
    return ReadFileFrom(rank == kEnvironmentLog ? dir.environment_log() : dir.rank_log(rank),
                        offset, max_bytes);
  }
  Result<std::vector<Artifact>> ListArtifacts(const store::Run& run) override {
    return client::ListArtifacts(run);
  }
  Status DownloadArtifact(const store::Run& run, std::string_view name,
                          const fs::path& destination) override {
    return client::DownloadArtifact(run, name, destination);
  }
};

class Server : public RunFiles {
 public:
  explicit Server(std::shared_ptr<store::http::ApiClient> api) : api_(std::move(api)) {}

  Result<std::string> ReadLog(const store::Run& run, int rank, std::uint64_t offset,
                              std::size_t max_bytes) override {
    KILN_ASSIGN_OR_RETURN(
        store::http::RawResponse response,
        api_->GetRaw(fmt::format(
            "/v1/runs/{}/logs/{}?offset={}&max_bytes={}", store::http::UrlEncode(run.id),
            rank == kEnvironmentLog ? "environment" : std::to_string(rank), offset, max_bytes)));
    return std::move(response.body);
  }

  Result<std::vector<Artifact>> ListArtifacts(const store::Run& run) override {
    const std::string path = fmt::format("/v1/runs/{}/artifacts", store::http::UrlEncode(run.id));
    KILN_ASSIGN_OR_RETURN(const nlohmann::json response, api_->Get(path));
    std::vector<Artifact> artifacts;
    const auto found = response.find("artifacts");
    if (found == response.end() || !found->is_array()) {
      return DataLossError(fmt::format("the server's answer to {} has no artifact list", path));
    }
    for (const nlohmann::json& item : *found) {
      if (!item.is_object() || !item.contains("name") || !item["name"].is_string() ||
          !item.contains("size") || !item["size"].is_number_unsigned()) {
        return DataLossError(fmt::format("the server's answer to {} is malformed", path));
      }
      artifacts.push_back({item["name"].get<std::string>(), item["size"].get<std::uint64_t>()});
    }
    return artifacts;
  }

  // Like the local form: a file lands as destination/<its name>, a folder as
  // destination/<folder name>/...; the server refuses names outside outputs/ and logs/.
  Status DownloadArtifact(const store::Run& run, std::string_view name,
                          const fs::path& destination) override {
    std::string wanted = fs::path(std::string(name)).lexically_normal().generic_string();
    if (wanted.ends_with('/')) wanted.pop_back();
    KILN_ASSIGN_OR_RETURN(const std::vector<Artifact> artifacts, ListArtifacts(run));
    const fs::path base = fs::path(wanted).parent_path();
    bool any = false;
    for (const Artifact& artifact : artifacts) {
      if (artifact.name != wanted && !artifact.name.starts_with(wanted + "/")) continue;
      any = true;
      const fs::path target = destination / fs::path(artifact.name).lexically_relative(base);
      KILN_RETURN_IF_ERROR(CreateDirectories(target.parent_path()));
      // Written as it arrives: an artifact of any size passes through a small buffer.
      KILN_RETURN_IF_ERROR(
          api_->Download(fmt::format("/v1/runs/{}/artifacts/{}", store::http::UrlEncode(run.id),
                                     EncodePath(artifact.name)),
                         target));
    }
    if (any) return Status::Ok();
    // Let the server word the refusal (outside outputs/ and logs/) or the absence.
    return api_
        ->GetRaw(fmt::format("/v1/runs/{}/artifacts/{}", store::http::UrlEncode(run.id),
                             EncodePath(wanted)))
        .status();
  }

 private:
  static std::string EncodePath(std::string_view path) {
    std::string out;
    std::size_t start = 0;
    while (true) {
      const std::size_t slash = path.find('/', start);
      out += store::http::UrlEncode(path.substr(start, slash - start));
      if (slash == std::string_view::npos) break;
      out += '/';
      start = slash + 1;
    }
    return out;
  }

  std::shared_ptr<store::http::ApiClient> api_;
};

}  // namespace

std::unique_ptr<RunFiles> LocalRunFiles() { return std::make_unique<Local>(); }

std::unique_ptr<RunFiles> ServerRunFiles(std::shared_ptr<store::http::ApiClient> api) {
  return std::make_unique<Server>(std::move(api));
}

}  // namespace kiln::client
