#pragma once

// Run ids: "<experiment>_<unix seconds>_<8 hex digits>", e.g.
// "fashion-mnist_1764580353_3fa94c1d". Users may name a run by its whole id or by its last
// part (the 8 hex digits) when that is unique.

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/time.h"
#include "store/store.h"

namespace kiln::client {

std::string NewRunId(std::string_view experiment, Timestamp now);

// NotFound when no run matches; InvalidArgument when a short name matches several.
Result<std::string> ResolveRunId(store::Store& store, std::string_view name);

}  // namespace kiln::client
