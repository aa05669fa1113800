// SqlStore's model registry methods.

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "store/sql/sql_store.h"

namespace kiln::store::sql {
namespace {

constexpr std::string_view kModelColumns =
    "name, version, run_id, experiment, snapshot_id, path, format, sha256, size_bytes, "
    "description, tags_json, metrics_json, parity_json, signature_json, created_at";

// A version with its deployment, if any: the columns ReadModel reads, in its order.
constexpr std::string_view kModelSelect =
    "SELECT v.name, v.version, v.run_id, v.experiment, v.snapshot_id, v.path, v.format, "
    "v.sha256, v.size_bytes, v.description, v.tags_json, v.metrics_json, v.parity_json, "
    "v.signature_json, v.created_at, d.entry_script, d.snapshot_id, d.environment_name, "
    "d.environment_json, d.deployed_at FROM model_versions v LEFT JOIN model_deployments d "
    "ON d.name = v.name AND d.version = v.version";

std::string TagsToJson(const std::vector<std::pair<std::string, std::string>>& tags) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [key, value] : tags) object[key] = value;
  return object.dump();
}

std::vector<std::pair<std::string, std::string>> TagsFromJson(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> tags;
  const nlohmann::json object = nlohmann::json::parse(text, nullptr, false);
  if (!object.is_object()) return tags;
  for (const auto& [key, value] : object.items()) {
    tags.emplace_back(key, value.is_string() ? value.get<std::string>() : value.dump());
  }
  return tags;  // nlohmann's object iterates in key order
}

ModelVersion ReadModel(const Statement& row) {
  ModelVersion m;
  m.name = row.ColumnText(0);
  m.version = row.ColumnInt(1);
  m.run_id = row.ColumnText(2);
  m.experiment = row.ColumnText(3);
  m.snapshot_id = row.ColumnText(4);
  m.path = row.ColumnText(5);
  m.format = row.ColumnText(6);
  m.sha256 = row.ColumnText(7);
  m.size_bytes = row.ColumnInt(8);
  m.description = row.ColumnText(9);
  m.tags = TagsFromJson(row.ColumnText(10));
  m.metrics_json = row.ColumnText(11);
  m.parity_json = row.ColumnText(12);
  m.signature_json = row.ColumnText(13);
  m.created_at = row.ColumnInt(14);
  if (!row.ColumnIsNull(15)) {
    m.deployment = ModelDeployment{.entry_script = row.ColumnText(15),
                                   .snapshot_id = row.ColumnText(16),
                                   .environment_name = row.ColumnText(17),
                                   .environment_json = row.ColumnText(18),
                                   .deployed_at = row.ColumnInt(19)};
  }
  return m;
}

Status UnknownModel(std::string_view name, std::int64_t version) {
  if (version == 0) return NotFoundError(fmt::format("model '{}' is not registered", name));
  return NotFoundError(fmt::format("model '{}' has no version {}", name, version));
}

Result<ModelVersion> ReadOneModel(Connection& db, std::string_view name, std::int64_t version) {
  const std::string sql =
      version == 0
          ? fmt::format("{} WHERE v.name = ? ORDER BY v.version DESC LIMIT 1", kModelSelect)
          : fmt::format("{} WHERE v.name = ? AND v.version = ?", kModelSelect);
  KILN_ASSIGN_OR_RETURN(Statement query, db.Prepare(sql));
  query.Bind(1, name);
  if (version != 0) query.Bind(2, version);
  KILN_ASSIGN_OR_RETURN(const bool found, query.Step());
  if (!found) return UnknownModel(name, version);
  return ReadModel(query);
}

}  // namespace

Result<ModelVersion> SqlStore::CreateModelVersion(const ModelVersion& model) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  ModelVersion stored = model;
  stored.created_at = clock_.Now();
  KILN_RETURN_IF_ERROR(InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement latest,
                          db->Prepare("SELECT latest_version FROM models WHERE name = ?"));
    latest.Bind(1, model.name);
    KILN_ASSIGN_OR_RETURN(const bool known, latest.Step());
    stored.version = known ? latest.ColumnInt(0) + 1 : 1;
    if (known) {
      KILN_ASSIGN_OR_RETURN(Statement bump,
                            db->Prepare("UPDATE models SET latest_version = ? WHERE name = ?"));
      KILN_RETURN_IF_ERROR(bump.Bind(1, stored.version).Bind(2, model.name).Run());
    } else {
      KILN_ASSIGN_OR_RETURN(
          Statement add,
          db->Prepare("INSERT INTO models (name, latest_version, created_at) VALUES (?, ?, ?)"));
      KILN_RETURN_IF_ERROR(
          add.Bind(1, model.name).Bind(2, stored.version).Bind(3, stored.created_at).Run());
    }
    KILN_ASSIGN_OR_RETURN(
        Statement insert,
        db->Prepare(fmt::format("INSERT INTO model_versions ({}) VALUES (?, ?, ?, ?, ?, ?, ?, "
                                "?, ?, ?, ?, ?, ?, ?, ?)",
                                kModelColumns)));
    return insert.Bind(1, stored.name)
        .Bind(2, stored.version)
        .Bind(3, stored.run_id)
        .Bind(4, stored.experiment)
        .Bind(5, stored.snapshot_id)
        .Bind(6, stored.path)
        .Bind(7, stored.format)
        .Bind(8, stored.sha256)
        .Bind(9, stored.size_bytes)
        .Bind(10, stored.description)
        .Bind(11, TagsToJson(stored.tags))
        .Bind(12, stored.metrics_json)
        .Bind(13, stored.parity_json)
        .Bind(14, stored.signature_json)
        .Bind(15, stored.created_at)
        .Run();
  }));
  stored.tags = TagsFromJson(TagsToJson(stored.tags));  // sorted, as read back
  return stored;
}

Result<ModelVersion> SqlStore::GetModelVersion(std::string_view name, std::int64_t version) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return ReadOneModel(*db, name, version);
}

Result<std::vector<ModelVersion>> SqlStore::ListModelVersions(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  const std::string where = name.empty() ? "" : " WHERE v.name = ?";
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare(fmt::format("{}{} ORDER BY v.name, v.version DESC", kModelSelect, where)));
  if (!name.empty()) query.Bind(1, name);
  std::vector<ModelVersion> models;
  while (true) {
    KILN_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    models.push_back(ReadModel(query));
  }
  return models;
}

Status SqlStore::RemoveModelVersion(std::string_view name, std::int64_t version) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  return InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(Statement remove,
                          db->Prepare("DELETE FROM model_versions WHERE name = ? AND version = ?"));
    KILN_RETURN_IF_ERROR(remove.Bind(1, name).Bind(2, version).Run());
    if (db->Changes() == 0) return UnknownModel(name, version);
    return Status::Ok();
  });
}

Result<ModelVersion> SqlStore::SetModelDeployment(std::string_view name, std::int64_t version,
                                                  const ModelDeployment& deployment) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  const Timestamp now = clock_.Now();
  ModelVersion stored;
  KILN_RETURN_IF_ERROR(InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(const ModelVersion model, ReadOneModel(*db, name, version));
    KILN_ASSIGN_OR_RETURN(
        Statement remove,
        db->Prepare("DELETE FROM model_deployments WHERE name = ? AND version = ?"));
    KILN_RETURN_IF_ERROR(remove.Bind(1, name).Bind(2, model.version).Run());
    KILN_ASSIGN_OR_RETURN(
        Statement insert,
        db->Prepare("INSERT INTO model_deployments (name, version, entry_script, snapshot_id, "
                    "environment_name, environment_json, deployed_at) VALUES (?, ?, ?, ?, ?, ?, "
                    "?)"));
    KILN_RETURN_IF_ERROR(insert.Bind(1, name)
                             .Bind(2, model.version)
                             .Bind(3, deployment.entry_script)
                             .Bind(4, deployment.snapshot_id)
                             .Bind(5, deployment.environment_name)
                             .Bind(6, deployment.environment_json)
                             .Bind(7, now)
                             .Run());
    stored = model;
    stored.deployment = deployment;
    stored.deployment->deployed_at = now;
    return Status::Ok();
  }));
  return stored;
}

Result<ModelVersion> SqlStore::RemoveModelDeployment(std::string_view name, std::int64_t version) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  ModelVersion stored;
  KILN_RETURN_IF_ERROR(InWriteTransaction(*db, [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(stored, ReadOneModel(*db, name, version));
    if (!stored.deployment) {
      return NotFoundError(
          fmt::format("model {}:{} has no deployment (kiln model deploy)", name, stored.version));
    }
    KILN_ASSIGN_OR_RETURN(
        Statement remove,
        db->Prepare("DELETE FROM model_deployments WHERE name = ? AND version = ?"));
    KILN_RETURN_IF_ERROR(remove.Bind(1, name).Bind(2, stored.version).Run());
    stored.deployment.reset();
    return Status::Ok();
  }));
  return stored;
}

}  // namespace kiln::store::sql
