#include "client/run_id.h"

#include <fmt/format.h>

#include "common/random.h"

namespace kiln::client {

namespace {
constexpr int kRandomDigits = 8;
}  // namespace

std::string NewRunId(std::string_view experiment, Timestamp now) {
  return fmt::format("{}_{}_{}", experiment, now / 1'000'000, RandomHex(kRandomDigits));
}

Result<std::string> ResolveRunId(store::Store& store, std::string_view name) {
  const Result<store::Run> exact = store.GetRun(name);
  if (exact.ok()) return exact->id;
  if (exact.status().code() != StatusCode::kNotFound) return exact.status();
  std::vector<std::string> matches;
  if (!name.empty() && name.find('_') == std::string_view::npos) {
    KILN_ASSIGN_OR_RETURN(const std::vector<store::Run> runs, store.ListRuns({}));
    const std::string suffix = "_" + std::string(name);
    for (const store::Run& run : runs) {
      if (run.id.ends_with(suffix)) matches.push_back(run.id);
    }
  }
  if (matches.size() == 1) return matches[0];
  if (matches.empty()) {
    return NotFoundError(fmt::format("run '{}' does not exist (see 'kiln runs')", name));
  }
  return InvalidArgumentError(fmt::format("'{}' names {} runs ({}, ...); give the whole id", name,
                                          matches.size(), matches[0]));
}

}  // namespace kiln::client
