#pragma once

// What the built-in local target holds now, as `kiln compute show local --json` and
// GET /v1/compute-targets/local show it (docs/compute-targets.md, "The local queue"):
//   {"name": "local", "type": "local",
//    "cores": {"capacity", "set" (null: the machine's own count), "used",
//              "holding": [{"run_id", "slots"}], "waiting": [{"run_id", "slots"}]},
//    "gpus": {...the same}}
// `waiting` is in line order.

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "launch/slot_queue.h"

namespace kiln::client {

// Errors of reading the queue's files (launch/slot_queue.h).
Result<nlohmann::json> LocalTargetView(const launch::SlotQueue& queue);

}  // namespace kiln::client
