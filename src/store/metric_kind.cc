#include "store/metric_kind.h"

namespace kiln::store {

std::string_view MetricKindName(MetricKind kind) {
  switch (kind) {
    case MetricKind::kScalar:
      return "scalar";
    case MetricKind::kList:
      return "list";
    case MetricKind::kRow:
      return "row";
    case MetricKind::kTable:
      return "table";
    case MetricKind::kImage:
      return "image";
  }
  return "scalar";
}

std::optional<MetricKind> ParseMetricKind(std::string_view name) {
  for (MetricKind kind : {MetricKind::kScalar, MetricKind::kList, MetricKind::kRow,
                          MetricKind::kTable, MetricKind::kImage}) {
    if (name == MetricKindName(kind)) return kind;
  }
  return std::nullopt;
}

}  // namespace kiln::store
