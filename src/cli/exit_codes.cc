#include "cli/exit_codes.h"

namespace kiln::cli {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnimplemented:
      return kExitBadInput;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
      return kExitConflict;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return kExitUnavailable;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return kExitAuth;
    default:
      return kExitInternal;
  }
}

int ExitCodeFor(store::RunStatus final_status) {
  switch (final_status) {
    case store::RunStatus::kCompleted:
      return kExitOk;
    case store::RunStatus::kCanceled:
      return kExitRunCanceled;
    default:
      return kExitRunFailed;
  }
}

}  // namespace kiln::cli
