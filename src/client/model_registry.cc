#include "client/model_registry.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

#include "client/artifacts.h"
#include "client/run_id.h"
#include "client/torch_file.h"
#include "common/files.h"
#include "common/random.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "inference/onnx_graph.h"
#include "store/http/api_client.h"
#include "store/record_json.h"
#include "store/run_status.h"
#include "store/wire.h"

namespace kiln::client {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path ModelsRoot(const Workspace& workspace) { return workspace.home() / "models"; }
fs::path StoredFile(const Workspace& workspace, std::string_view sha256) {
  return ModelsRoot(workspace) / "sha256" / std::string(sha256);
}

Status CheckName(std::string_view name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && std::isalnum(static_cast<unsigned char>(name[0])) &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
      });
  if (ok) return Status::Ok();
  return InvalidArgumentError(fmt::format(
      "model name '{}' is not valid: use 1 to 64 letters, digits, '.', '_' or '-', starting "
      "with a letter or digit",
      name));
}

Result<std::string> HashFile(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(fmt::format("cannot read '{}'", path.string()), errno);
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(fmt::format("cannot read '{}'", path.string()), errno);
    if (n == 0) break;
    hash.Update(buffer.data(), static_cast<size_t>(n));
  }
  return hash.FinishHex();
}

// ONNX by its extension (a protobuf has no signature); PyTorch's files by what they hold,
// whatever their name (torch_file.h).
Result<std::string> FormatOf(const fs::path& path) {
  if (path.extension() == ".onnx") return std::string("onnx");
  KILN_ASSIGN_OR_RETURN(const TorchFileKind kind, InspectTorchFile(path));
  return std::string(TorchFileKindName(kind));
}

// ONNX: the checker must pass; the inputs and outputs are the signature.
Result<std::string> OnnxSignature(const fs::path& file, std::string_view artifact) {
  Result<inference::OnnxGraph> graph = inference::ReadOnnxInterface(file.string());
  if (!graph.ok()) {
    return InvalidArgumentError(fmt::format("{}: {}", artifact, graph.status().message()));
  }
  const auto values = [](const std::vector<inference::ValueInfo>& infos) {
    json list = json::array();
    for (const inference::ValueInfo& v : infos) {
      json shape = json::array();
      for (const int64_t d : v.shape)
        shape.push_back(d == inference::kDynamicDim ? json(nullptr) : json(d));
      list.push_back({{"name", v.name}, {"shape", shape}, {"elem_type", v.elem_type}});
    }
    return list;
  };
  return json{{"inputs", values(graph->inputs)},
              {"outputs", values(graph->outputs)},
              {"opset", graph->opset},
              {"producer", graph->producer}}
      .dump();
}

Result<std::string> LastMetrics(store::Store& store, const std::string& run_id) {
  KILN_ASSIGN_OR_RETURN(const std::vector<store::MetricSummary> metrics, store.ListMetrics(run_id));
  json last = json::object();
  for (const store::MetricSummary& m : metrics) {
    if (m.rank == 0 && m.last) last[m.name] = *m.last;
  }
  return last.dump();
}

// Copies `file` into the model store; returns its SHA-256. The copy is hashed, not the
// source, so the record always matches the stored bytes.
Result<std::string> StoreFile(const Workspace& workspace, const fs::path& file) {
  const fs::path folder = ModelsRoot(workspace) / "sha256";
  KILN_RETURN_IF_ERROR(CreateDirectories(folder));
  const fs::path temporary = folder / fmt::format(".incoming.{}", RandomHex(16));
  KILN_RETURN_IF_ERROR(CopyFileContents(file, temporary, 0444));
  Result<std::string> sha256 = HashFile(temporary);
  std::error_code error;
  if (sha256.ok() && !fs::exists(folder / *sha256)) {
    fs::rename(temporary, folder / *sha256, error);
    if (error)
      sha256 = InternalError(
          fmt::format("cannot store the model in '{}': {}", folder.string(), error.message()));
  }
  fs::remove(temporary, error);
  return sha256;
}

bool FileReferenced(store::Store& store, std::string_view sha256) {
  const Result<std::vector<store::ModelVersion>> all = store.ListModelVersions("");
  if (!all.ok()) return true;  // when in doubt, keep the file
  return std::any_of(all->begin(), all->end(),
                     [&](const store::ModelVersion& m) { return m.sha256 == sha256; });
}

Result<store::ModelVersion> RegisterLocally(Workspace& workspace,
                                            const ModelRegistration& request) {
  store::Store& store = workspace.store();
  KILN_ASSIGN_OR_RETURN(const std::string run_id, ResolveRunId(store, request.run));
  KILN_ASSIGN_OR_RETURN(const store::Run run, store.GetRun(run_id));
  if (run.status != store::RunStatus::kCompleted) {
    return FailedPreconditionError(fmt::format("run {} is {}; register models from a Completed run",
                                               run.id, store::RunStatusName(run.status)));
  }
  // Models come from what the run saved: outputs/, not the logs it wrote (which are
  // artifacts too).
  if (!request.path.starts_with("outputs/")) {
    return InvalidArgumentError(fmt::format(
        "'{}' is not under outputs/: register a file the run saved in its outputs", request.path));
  }
  KILN_ASSIGN_OR_RETURN(const fs::path file, ArtifactFile(run, request.path));

  store::ModelVersion model;
  model.name = request.name;
  model.run_id = run.id;
  model.experiment = run.experiment;
  model.snapshot_id = run.snapshot_id;
  model.path = request.path;
  KILN_ASSIGN_OR_RETURN(model.format, FormatOf(file));
  model.description = request.description;
  model.tags = request.tags;
  if (model.format == "onnx") {
    KILN_ASSIGN_OR_RETURN(model.signature_json, OnnxSignature(file, request.path));
  }
  const fs::path parity = file.string() + ".parity.json";
  if (fs::is_regular_file(parity)) {
    KILN_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(parity));
    const json figures = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!figures.is_object()) {
      return InvalidArgumentError(fmt::format("{}.parity.json is not a JSON object", request.path));
    }
    model.parity_json = figures.dump();
  }
  KILN_ASSIGN_OR_RETURN(model.metrics_json, LastMetrics(store, run.id));
  KILN_ASSIGN_OR_RETURN(model.sha256, StoreFile(workspace, file));
  std::error_code error;
  model.size_bytes =
      static_cast<int64_t>(fs::file_size(StoredFile(workspace, model.sha256), error));
  Result<store::ModelVersion> stored = store.CreateModelVersion(model);
  if (!stored.ok() && !FileReferenced(store, model.sha256)) {
    fs::remove(StoredFile(workspace, model.sha256), error);  // leave nothing half-made
  }
  return stored;
}

// Streams the server's copy to `to` (through a temporary beside it), checking its hash.
Status DownloadFromServer(store::http::ApiClient& server, const store::ModelVersion& model,
                          const fs::path& to) {
  KILN_RETURN_IF_ERROR(CreateDirectories(to.parent_path()));
  const fs::path temporary = to.string() + fmt::format(".part.{}", RandomHex(8));
  UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return ErrnoError(fmt::format("cannot write '{}'", temporary.string()), errno);
  Sha256 hash;
  Status written;
  Status status = server.GetStream(fmt::format("/v1/models/{}/versions/{}/file",
                                               store::http::UrlEncode(model.name), model.version),
                                   [&](std::string_view data) {
                                     hash.Update(data);
                                     written = WriteAll(fd.get(), data, temporary);
                                     return written.ok();
                                   });
  if (status.ok()) status = written;
  if (status.ok() && hash.FinishHex() != model.sha256) {
    status = DataLossError(fmt::format("the downloaded {}:{} does not match its SHA-256 {}",
                                       model.name, model.version, model.sha256));
  }
  std::error_code error;
  if (status.ok()) fs::rename(temporary, to, error);
  if (status.ok() && error)
    status = InternalError(fmt::format("cannot write '{}': {}", to.string(), error.message()));
  fs::remove(temporary, error);
  return status;
}

}  // namespace

Result<store::ModelVersion> RegisterModel(Workspace& workspace, const ModelRegistration& request) {
  KILN_RETURN_IF_ERROR(CheckName(request.name));
  for (const auto& [key, value] : request.tags) {
    if (key.empty())
      return InvalidArgumentError(fmt::format("tag '={}' has no key: give KEY=VALUE", value));
  }
  if (store::http::ApiClient* server = workspace.server()) {
    json tags = json::object();
    for (const auto& [key, value] : request.tags) tags[key] = value;
    KILN_ASSIGN_OR_RETURN(const json response,
                          server->Post("/v1/models", {{"name", request.name},
                                                      {"run", request.run},
                                                      {"path", request.path},
                                                      {"description", request.description},
                                                      {"tags", tags}}));
    return store::wire::ModelVersionFromJson(response);
  }
  return RegisterLocally(workspace, request);
}

Result<std::pair<std::string, std::int64_t>> ParseModelRef(std::string_view ref) {
  const size_t colon = ref.rfind(':');
  const std::string_view name = ref.substr(0, colon);
  KILN_RETURN_IF_ERROR(CheckName(name));
  if (colon == std::string_view::npos) return std::pair{std::string(name), std::int64_t{0}};
  const std::string_view version = ref.substr(colon + 1);
  if (version == "latest") return std::pair{std::string(name), std::int64_t{0}};
  std::int64_t number = 0;
  const auto [end, error] =
      std::from_chars(version.data(), version.data() + version.size(), number);
  if (error != std::errc() || end != version.data() + version.size() || number < 1) {
    return InvalidArgumentError(
        fmt::format("'{}': the version after ':' must be a number from 1, or 'latest'", ref));
  }
  return std::pair{std::string(name), number};
}

Result<store::ModelVersion> FindModel(Workspace& workspace, std::string_view ref) {
  KILN_ASSIGN_OR_RETURN(const auto parsed, ParseModelRef(ref));
  return workspace.store().GetModelVersion(parsed.first, parsed.second);
}

Status RemoveModel(Workspace& workspace, std::string_view name, std::int64_t version) {
  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model,
                        workspace.store().GetModelVersion(name, version));
  KILN_RETURN_IF_ERROR(workspace.store().RemoveModelVersion(name, model.version));
  if (workspace.server() == nullptr && !FileReferenced(workspace.store(), model.sha256)) {
    std::error_code error;
    fs::remove(StoredFile(workspace, model.sha256), error);
  }
  return Status::Ok();
}

Result<fs::path> ModelFile(Workspace& workspace, const store::ModelVersion& model) {
  if (store::http::ApiClient* server = workspace.server()) {
    const fs::path cached = ModelsRoot(workspace) / "cache" / model.sha256;
    const Result<std::string> have = HashFile(cached);
    if (!have.ok() || *have != model.sha256) {
      KILN_RETURN_IF_ERROR(DownloadFromServer(*server, model, cached));
    }
    return cached;
  }
  const fs::path stored = StoredFile(workspace, model.sha256);
  if (!fs::exists(stored)) {
    return DataLossError(
        fmt::format("the file of model {}:{} is missing from the model store "
                    "('{}'); register it again",
                    model.name, model.version, stored.string()));
  }
  KILN_ASSIGN_OR_RETURN(const std::string sha256, HashFile(stored));
  if (sha256 != model.sha256) {
    return DataLossError(
        fmt::format("the stored file of model {}:{} ('{}') no longer matches "
                    "its SHA-256; register it again",
                    model.name, model.version, stored.string()));
  }
  return stored;
}

Result<fs::path> DownloadModel(Workspace& workspace, const store::ModelVersion& model,
                               const fs::path& destination) {
  const fs::path to =
      fs::is_directory(destination) ? destination / fs::path(model.path).filename() : destination;
  if (fs::exists(to)) {
    return AlreadyExistsError(
        fmt::format("'{}' exists already; remove it or choose another "
                    "destination",
                    to.string()));
  }
  if (store::http::ApiClient* server = workspace.server()) {
    KILN_RETURN_IF_ERROR(DownloadFromServer(*server, model, to));
    return to;
  }
  KILN_ASSIGN_OR_RETURN(const fs::path stored, ModelFile(workspace, model));
  KILN_RETURN_IF_ERROR(CopyFileContents(stored, to, 0644));
  return to;
}

}  // namespace kiln::client
