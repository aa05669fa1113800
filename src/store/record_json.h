#pragma once

// JSON forms of store records, as `kiln ... --json` prints them (docs/cli.md). Times are
// RFC 3339 UTC strings; absent values are null.

#include <nlohmann/json.hpp>

#include "store/records.h"

namespace kiln::store {

nlohmann::json ToJson(const Run& run);
nlohmann::json ToJson(const StatusChange& change);
nlohmann::json ToJson(const Experiment& experiment);
nlohmann::json ToJson(const Datastore& datastore);

}  // namespace kiln::store
