#pragma once

// Durations given on the command line: "30d", "12h", "90m", "45s".

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln::cli {

// InvalidArgument naming `flag` for text that is not a count and a unit.
Result<std::chrono::seconds> ParseDuration(std::string_view flag, const std::string& text);

}  // namespace kiln::cli
