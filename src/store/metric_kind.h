#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln::store {

// What a metric holds. One name in one run keeps one kind.
enum class MetricKind : std::uint8_t { kScalar = 0, kList = 1, kRow = 2, kTable = 3, kImage = 4 };

// "scalar", "list", "row", "table", "image".
std::string_view MetricKindName(MetricKind kind);
std::optional<MetricKind> ParseMetricKind(std::string_view name);

}  // namespace kiln::store
