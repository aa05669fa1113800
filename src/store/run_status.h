#pragma once

// The lifecycle of a run (docs/runs.md):
//
//   Queued -> Preparing -> Running -> Finalizing -> Completed | Failed | Canceled
//
// with CancelRequested on the way to Canceled, and Failed reachable from every state that
// is not terminal (a launcher that died, a node that vanished). Every backend enforces the
// same transitions through IsAllowedTransition().

#include <optional>
#include <string_view>

namespace kiln::store {

enum class RunStatus {
  kQueued,
  kPreparing,
  kRunning,
  kFinalizing,
  kCompleted,
  kFailed,
  kCancelRequested,
  kCanceled,
};

// "Queued", "CancelRequested", ...
std::string_view RunStatusName(RunStatus status);
// Case-insensitive; also accepts "cancel_requested" / "cancel-requested".
std::optional<RunStatus> ParseRunStatus(std::string_view name);

bool IsTerminal(RunStatus status);
bool IsAllowedTransition(RunStatus from, RunStatus to);

// Every status, in lifecycle order.
inline constexpr RunStatus kAllStatuses[] = {RunStatus::kQueued,          RunStatus::kPreparing,
                                             RunStatus::kRunning,         RunStatus::kFinalizing,
                                             RunStatus::kCompleted,       RunStatus::kFailed,
                                             RunStatus::kCancelRequested, RunStatus::kCanceled};

}  // namespace kiln::store
