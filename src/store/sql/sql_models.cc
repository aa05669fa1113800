// SqlStore's model registry methods.

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "store/sql/sql_store.h"

namespace kiln::store::sql {
namespace {

constexpr std::string_view kModelColumns =
    "name, version, run_id, experiment, snapshot_id, path, format, sha256, size_bytes, "
    "description, tags_json, metrics_json, parity_json, signature_json, created_at";

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
  return m;
}

Status UnknownModel(std::string_view name, std::int64_t version) {
  if (version == 0) return NotFoundError(fmt::format("model '{}' is not registered", name));
  return NotFoundError(fmt::format("model '{}' has no version {}", name, version));
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
  const std::string sql =
      version == 0 ? fmt::format(
                         "SELECT {} FROM model_versions WHERE name = ? ORDER BY version "
                         "DESC LIMIT 1",
                         kModelColumns)
                   : fmt::format("SELECT {} FROM model_versions WHERE name = ? AND version = ?",
                                 kModelColumns);
  KILN_ASSIGN_OR_RETURN(Statement query, db->Prepare(sql));
  query.Bind(1, name);
  if (version != 0) query.Bind(2, version);
  KILN_ASSIGN_OR_RETURN(const bool found, query.Step());
  if (!found) return UnknownModel(name, version);
  return ReadModel(query);
}

Result<std::vector<ModelVersion>> SqlStore::ListModelVersions(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(ConnectionPool::Lease db, pool_.Acquire());
  const std::string where = name.empty() ? "" : "WHERE name = ? ";
  KILN_ASSIGN_OR_RETURN(
      Statement query,
      db->Prepare(fmt::format("SELECT {} FROM model_versions {}ORDER BY name, version DESC",
                              kModelColumns, where)));
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

}  // namespace kiln::store::sql
