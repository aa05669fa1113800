#include "store/run_status.h"

#include <string>

namespace kiln::store {

std::string_view RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kQueued:
      return "Queued";
    case RunStatus::kPreparing:
      return "Preparing";
    case RunStatus::kRunning:
      return "Running";
    case RunStatus::kFinalizing:
      return "Finalizing";
    case RunStatus::kCompleted:
      return "Completed";
    case RunStatus::kFailed:
      return "Failed";
    case RunStatus::kCancelRequested:
      return "CancelRequested";
    case RunStatus::kCanceled:
      return "Canceled";
  }
  return "Unknown";
}

std::optional<RunStatus> ParseRunStatus(std::string_view name) {
  std::string folded;
  for (char c : name) {
    if (c == '_' || c == '-') continue;
    folded += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  for (RunStatus status : kAllStatuses) {
    std::string candidate;
    for (char c : RunStatusName(status)) {
      candidate += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (candidate == folded) return status;
  }
  return std::nullopt;
}

bool IsTerminal(RunStatus status) {
  return status == RunStatus::kCompleted || status == RunStatus::kFailed ||
         status == RunStatus::kCanceled;
}

bool IsAllowedTransition(RunStatus from, RunStatus to) {
  if (IsTerminal(from)) return false;
  if (to == RunStatus::kFailed) return true;
  switch (from) {
    case RunStatus::kQueued:
      return to == RunStatus::kPreparing || to == RunStatus::kCancelRequested ||
             to == RunStatus::kCanceled;
    case RunStatus::kPreparing:
      return to == RunStatus::kRunning || to == RunStatus::kCancelRequested;
    case RunStatus::kRunning:
      return to == RunStatus::kFinalizing || to == RunStatus::kCancelRequested;
    case RunStatus::kFinalizing:
      return to == RunStatus::kCompleted;
    case RunStatus::kCancelRequested:
      return to == RunStatus::kCanceled;
    default:
      return false;
  }
}

}  // namespace kiln::store
