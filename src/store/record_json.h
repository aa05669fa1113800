#pragma once

// JSON forms of store records, as `kiln ... --json` prints them (docs/cli.md). Times are
// RFC 3339 UTC strings; absent values are null.

#include <nlohmann/json.hpp>

#include "store/records.h"

namespace kiln::store {

nlohmann::json ToJson(const Run& run);
nlohmann::json ToJson(const StatusChange& change);
// {"sweep_id", "index", "run_id", "params": {...}, "status", "judged_through", "intervals",
//  "best", "stop_reason", "created_at", "started_at", "ended_at"}
nlohmann::json ToJson(const Trial& trial);
nlohmann::json ToJson(const Experiment& experiment);
nlohmann::json ToJson(const Datastore& datastore);
// {"name", "type", "config": {...}, "created_at"}
nlohmann::json ToJson(const ComputeTargetRecord& target);
// {"name", "version", "run", "experiment", "snapshot", "path", "format", "sha256",
//  "size_bytes", "description", "tags": {...}, "metrics": {...}, "parity": {...},
//  "signature": {...}, "created_at", "deployment": {...} or null}
// {"name", "version", "definition": {...}, "created_at"}.
nlohmann::json ToJson(const EnvironmentVersion& environment);
nlohmann::json ToJson(const ModelVersion& model);
// {"entry_script", "snapshot", "environment": name or null, "environment_definition": {...},
//  "deployed_at"}
nlohmann::json ToJson(const ModelDeployment& deployment);
// {"name", "rank", "kind", "description", "count", "last", "min", "max", "last_step",
//  "last_at"}; last/min/max/last_step are null for kinds other than scalar.
nlohmann::json ToJson(const MetricSummary& summary);
// {"name", "rank", "kind", "description", "steps": [...], "values": [...], "times": [...]}
// for a scalar (times in microseconds since the epoch); other kinds give "values" as the
// logged JSON values and "times".
nlohmann::json ToJson(const MetricSeries& series);
// {"id", "name", "role", "run_id", "created_at", "revoked_at"}: never the secret or its hash.
nlohmann::json ToJson(const ApiToken& token);

}  // namespace kiln::store
