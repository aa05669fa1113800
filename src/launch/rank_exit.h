#pragma once

// RankExit: how one rank ended, with the last lines of its log. Under mpirun the launcher
// is not the ranks' parent and cannot wait for them, so the rank shim (rank_shim.h) writes
// this record to logs/rank-N.exit.json as its rank ends, and the launcher reads it to tell
// which rank failed first and why (docs/run-directory.md).

#include <string>
#include <vector>

#include "common/result.h"
#include "common/subprocess.h"
#include "common/time.h"
#include "launch/run_dir.h"

namespace kiln::launch {

struct RankExit {
  int rank = 0;
  ExitStatus exit;
  Timestamp ended_at = 0;
  std::vector<std::string> tail;  // the rank's last log lines, oldest first
};

// Written atomically: a reader sees no record or a whole one.
Status WriteRankExit(const RunDir& dir, const RankExit& record);
// NotFound while the rank has not ended (or never started).
Result<RankExit> ReadRankExit(const RunDir& dir, int rank);

}  // namespace kiln::launch
