#include "store/run_kind.h"

namespace kiln::store {

std::string_view RunKindName(RunKind kind) { return kind == RunKind::kSweep ? "sweep" : "job"; }

std::optional<RunKind> ParseRunKind(std::string_view name) {
  for (RunKind kind : {RunKind::kJob, RunKind::kSweep}) {
    if (name == RunKindName(kind)) return kind;
  }
  return std::nullopt;
}

}  // namespace kiln::store
