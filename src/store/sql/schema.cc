#include "store/sql/schema.h"

#include <fmt/format.h>

namespace kiln::store::sql {
namespace {

struct Template {
  int version;
  std::string_view description;
  std::string_view sql;  // with {id}, {bigint}, {real}, {blob} and {without_rowid}
};

constexpr Template kTemplates[] = {
    {1, "experiments, runs with status history, params and tags, datastores", R"sql(
CREATE TABLE experiments (
  id         {id},
  name       TEXT NOT NULL UNIQUE,
  created_at {bigint} NOT NULL
);
CREATE TABLE runs (
  id               TEXT PRIMARY KEY,
  experiment_id    {bigint} NOT NULL REFERENCES experiments(id),
  display_name     TEXT NOT NULL,
  spec_json        TEXT NOT NULL,
  snapshot_id      TEXT NOT NULL,
  compute_target   TEXT NOT NULL,
  run_dir          TEXT NOT NULL,
  host             TEXT NOT NULL,
  status           TEXT NOT NULL,
  created_at       {bigint} NOT NULL,
  started_at       {bigint},
  ended_at         {bigint},
  exit_code        INTEGER,
  failure_reason   TEXT NOT NULL DEFAULT '',
  failure_log_tail TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX runs_by_experiment ON runs(experiment_id, created_at);
CREATE INDEX runs_by_status ON runs(status);
CREATE TABLE run_status_history (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  seq    INTEGER NOT NULL,
  status TEXT NOT NULL,
  at     {bigint} NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, seq)
);
CREATE TABLE run_params (
  run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  name     TEXT NOT NULL,
  value    TEXT,
  resolved TEXT,
  PRIMARY KEY (run_id, position)
);
CREATE TABLE run_tags (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE datastores (
  name       TEXT PRIMARY KEY,
  type       TEXT NOT NULL,
  path       TEXT NOT NULL,
  created_at {bigint} NOT NULL
);
)sql"},
    {2, "metrics: summaries, packed scalar blocks, values, spool offsets", R"sql(
CREATE TABLE metrics (
  id          {id},
  run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  rank        INTEGER NOT NULL,
  kind        TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  count       {bigint} NOT NULL DEFAULT 0,
  last_value  {real},
  min_value   {real},
  max_value   {real},
  last_step   {bigint},
  last_at     {bigint} NOT NULL DEFAULT 0,
  next_seq    {bigint} NOT NULL DEFAULT 0,
  UNIQUE (run_id, name, rank)
);
-- Scalar points, `count` per row, in the block encoding of store/point_block.h.
CREATE TABLE metric_blocks (
  metric_id {bigint} NOT NULL REFERENCES metrics(id) ON DELETE CASCADE,
  seq       {bigint} NOT NULL,
  count     INTEGER NOT NULL,
  points    {blob} NOT NULL,
  PRIMARY KEY (metric_id, seq)
){without_rowid};
CREATE TABLE metric_values (
  metric_id {bigint} NOT NULL REFERENCES metrics(id) ON DELETE CASCADE,
  seq       {bigint} NOT NULL,
  at        {bigint} NOT NULL,
  value     TEXT NOT NULL,
  PRIMARY KEY (metric_id, seq)
){without_rowid};
CREATE TABLE spool_offsets (
  run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  rank        INTEGER NOT NULL,
  byte_offset {bigint} NOT NULL,
  PRIMARY KEY (run_id, rank)
);
)sql"},
    {3, "API tokens of a Kiln server", R"sql(
CREATE TABLE api_tokens (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL UNIQUE,
  secret_sha256 TEXT NOT NULL,
  run_id        TEXT,
  created_at    {bigint} NOT NULL,
  revoked_at    {bigint}
);
)sql"},
    {4, "registered compute targets", R"sql(
CREATE TABLE compute_targets (
  name       TEXT PRIMARY KEY,
  type       TEXT NOT NULL,
  config     TEXT NOT NULL,
  created_at {bigint} NOT NULL
);
)sql"},
    {5, "the model registry: names and their versions with lineage", R"sql(
CREATE TABLE models (
  name           TEXT PRIMARY KEY,
  latest_version {bigint} NOT NULL,
  created_at     {bigint} NOT NULL
);
CREATE TABLE model_versions (
  name           TEXT NOT NULL REFERENCES models(name),
  version        {bigint} NOT NULL,
  run_id         TEXT NOT NULL,
  experiment     TEXT NOT NULL,
  snapshot_id    TEXT NOT NULL,
  path           TEXT NOT NULL,
  format         TEXT NOT NULL,
  sha256         TEXT NOT NULL,
  size_bytes     {bigint} NOT NULL,
  description    TEXT NOT NULL DEFAULT '',
  tags_json      TEXT NOT NULL DEFAULT '{{}}',
  metrics_json   TEXT NOT NULL DEFAULT '{{}}',
  parity_json    TEXT NOT NULL DEFAULT '{{}}',
  signature_json TEXT NOT NULL DEFAULT '{{}}',
  created_at     {bigint} NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_by_sha256 ON model_versions(sha256);
)sql"},
    // Tokens made before roles had every power: they become admin.
    {6, "token roles; who submitted each run", R"sql(
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE runs ADD COLUMN submitted_by TEXT NOT NULL DEFAULT '';
)sql"},
    {7, "sweeps: a run's kind and parent, and each sweep's trials", R"sql(
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'job';
ALTER TABLE runs ADD COLUMN parent_id TEXT;
CREATE INDEX runs_by_parent ON runs(parent_id);
CREATE TABLE sweep_trials (
  sweep_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  trial_index    {bigint} NOT NULL,
  run_id         TEXT NOT NULL UNIQUE REFERENCES runs(id) ON DELETE CASCADE,
  params_json    TEXT NOT NULL,
  judged_through {bigint} NOT NULL DEFAULT 0,
  intervals      {bigint} NOT NULL DEFAULT 0,
  best_value     {real},
  stop_reason    TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (sweep_id, trial_index)
);
)sql"},
    {8, "a run's description; archived runs", R"sql(
ALTER TABLE runs ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN archived_at {bigint};
)sql"},
    {9, "registered job environments, with versions", R"sql(
CREATE TABLE environment_versions (
  name            TEXT NOT NULL,
  version         {bigint} NOT NULL,
  definition_json TEXT NOT NULL,
  created_at      {bigint} NOT NULL,
  PRIMARY KEY (name, version)
);
)sql"},
    // A version's scoring-script deployment goes when the version does.
    {10, "model deployments: a version's scoring script, its snapshot and environment", R"sql(
CREATE TABLE model_deployments (
  name             TEXT NOT NULL,
  version          {bigint} NOT NULL,
  entry_script     TEXT NOT NULL,
  snapshot_id      TEXT NOT NULL,
  environment_name TEXT NOT NULL DEFAULT '',
  environment_json TEXT NOT NULL DEFAULT '{{}}',
  deployed_at      {bigint} NOT NULL,
  PRIMARY KEY (name, version),
  FOREIGN KEY (name, version) REFERENCES model_versions(name, version) ON DELETE CASCADE
);
)sql"},
};

}  // namespace

std::vector<Migration> KilnMigrations(const ColumnTypes& types) {
  std::vector<Migration> migrations;
  for (const Template& step : kTemplates) {
    migrations.push_back({step.version, step.description,
                          fmt::format(fmt::runtime(step.sql), fmt::arg("id", types.id),
                                      fmt::arg("bigint", types.bigint),
                                      fmt::arg("real", types.real), fmt::arg("blob", types.blob),
                                      fmt::arg("without_rowid", types.without_rowid))});
  }
  return migrations;
}

}  // namespace kiln::store::sql
