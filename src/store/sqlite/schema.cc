#include "store/sqlite/schema.h"

#include "store/sql/migrations.h"

namespace kiln::store::sqlite {
namespace {

constexpr sql::Migration kMigrations[] = {
    {1, "experiments, runs with status history, params and tags, datastores", R"sql(
CREATE TABLE experiments (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE runs (
  id               TEXT PRIMARY KEY,
  experiment_id    INTEGER NOT NULL REFERENCES experiments(id),
  display_name     TEXT NOT NULL,
  spec_json        TEXT NOT NULL,
  snapshot_id      TEXT NOT NULL,
  compute_target   TEXT NOT NULL,
  run_dir          TEXT NOT NULL,
  host             TEXT NOT NULL,
  status           TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  ended_at         INTEGER,
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
  at     INTEGER NOT NULL,
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
  created_at INTEGER NOT NULL
);
)sql"},
    {2, "metrics: summaries, packed scalar blocks, values, spool offsets", R"sql(
CREATE TABLE metrics (
  id          INTEGER PRIMARY KEY,
  run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  rank        INTEGER NOT NULL,
  kind        TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  count       INTEGER NOT NULL DEFAULT 0,
  last_value  REAL,
  min_value   REAL,
  max_value   REAL,
  last_step   INTEGER,
  last_at     INTEGER NOT NULL DEFAULT 0,
  next_seq    INTEGER NOT NULL DEFAULT 0,
  UNIQUE (run_id, name, rank)
);
-- Scalar points, `count` per row, in the block encoding of store/point_block.h.
CREATE TABLE metric_blocks (
  metric_id INTEGER NOT NULL REFERENCES metrics(id) ON DELETE CASCADE,
  seq       INTEGER NOT NULL,
  count     INTEGER NOT NULL,
  points    BLOB NOT NULL,
  PRIMARY KEY (metric_id, seq)
) WITHOUT ROWID;
CREATE TABLE metric_values (
  metric_id INTEGER NOT NULL REFERENCES metrics(id) ON DELETE CASCADE,
  seq       INTEGER NOT NULL,
  at        INTEGER NOT NULL,
  value     TEXT NOT NULL,
  PRIMARY KEY (metric_id, seq)
) WITHOUT ROWID;
CREATE TABLE spool_offsets (
  run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  rank        INTEGER NOT NULL,
  byte_offset INTEGER NOT NULL,
  PRIMARY KEY (run_id, rank)
);
)sql"},
};

}  // namespace

int LatestSchemaVersion() { return sql::LatestVersion(kMigrations); }

Status Migrate(Database& db) { return sql::Migrate(db, kMigrations); }

}  // namespace kiln::store::sqlite
