#pragma once

// The model registry: named, versioned models taken from runs' outputs.
//
// A version's record (store::ModelVersion) keeps its lineage: the run, the run's experiment
// and snapshot, the run's last metric values, the export's parity figures (the artifact's
// PATH.parity.json, written by kiln.onnx.export) and, for ONNX, its inputs and outputs. The
// file is copied into the model store under its SHA-256, so a registered model stays as it
// was whatever happens to the run directory:
//
//   <home>/models/sha256/<64 hex digits>   one read-only file per distinct content
//   <home>/models/cache/<64 hex digits>    a server's models downloaded to this machine
//
// With a Kiln server the server registers, stores and removes (POST /v1/models); this
// machine only downloads.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/workspace.h"
#include "common/result.h"
#include "store/records.h"

namespace kiln::client {

struct ModelRegistration {
  std::string name;
  std::string run;  // a run id, or its last part
  std::string path = "outputs/model.onnx";
  std::string description;
  std::vector<std::pair<std::string, std::string>> tags;
};

// Checks the name (letters, digits, '.', '_', '-'; up to 64), the run (it must have
// Completed) and the file (a regular file under outputs/; an .onnx file must pass the ONNX
// checker), copies the file into the model store and stores the next version.
Result<store::ModelVersion> RegisterModel(Workspace& workspace, const ModelRegistration& request);

// "NAME", "NAME:VERSION" or "NAME:latest" -> name and version (0 for the latest).
Result<std::pair<std::string, std::int64_t>> ParseModelRef(std::string_view ref);
// The version `ref` names; NotFound names what is missing.
Result<store::ModelVersion> FindModel(Workspace& workspace, std::string_view ref);

// Forgets one version; its file goes when no other version has the same content.
Status RemoveModel(Workspace& workspace, std::string_view name, std::int64_t version);

// A path on this machine holding the model's file (checked against its SHA-256): the model
// store's copy, or with a server a copy downloaded into the cache.
Result<std::filesystem::path> ModelFile(Workspace& workspace, const store::ModelVersion& model);

// Writes the model's file to `destination`: a folder (the file keeps the artifact's name)
// or a file path. Returns the path written.
Result<std::filesystem::path> DownloadModel(Workspace& workspace, const store::ModelVersion& model,
                                            const std::filesystem::path& destination);

}  // namespace kiln::client
