#pragma once

// The kiln command's exit codes (docs/cli.md).

#include "common/status.h"
#include "store/run_status.h"

namespace kiln::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRunFailed = 1;    // --wait/--stream: the run ended Failed
inline constexpr int kExitBadInput = 2;     // usage, job spec, datastore or size problems
inline constexpr int kExitNotFound = 3;     // no such run, datastore or artifact
inline constexpr int kExitRunCanceled = 4;  // --wait/--stream: the run ended Canceled
inline constexpr int kExitConflict = 5;     // the state forbids it (run ended, name taken)
inline constexpr int kExitUnavailable = 6;  // busy or timed out; trying again may work
inline constexpr int kExitAuth = 7;         // a Kiln server refused the token
inline constexpr int kExitInternal = 10;    // a bug or an unexpected system failure

int ExitCodeFor(const Status& status);
int ExitCodeFor(store::RunStatus final_status);

}  // namespace kiln::cli
