#pragma once

// Slurm's view of one job, asked of slurmctld with `scontrol show job --oneliner`. Both the
// Slurm compute target (queue state, reasons, a job that vanished) and the launcher inside
// an allocation (a node that failed, a time limit) read it.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kiln::launch {

struct SlurmJob {
  std::string id;
  std::string state;   // JobState: PENDING, RUNNING, NODE_FAIL, ...
  std::string reason;  // Reason: Resources, Priority, None, ...
  std::string nodes;   // NodeList, e.g. "n[1-2]"
};

// The environment Slurm's commands run with: this process's, with SLURM_CONF set to
// `slurm_conf` when it is not empty.
std::vector<std::string> SlurmEnvironment(const std::string& slurm_conf);

// nullopt when Slurm no longer knows the job (it ended long enough ago, or never existed).
// Unavailable when slurmctld cannot be reached.
Result<std::optional<SlurmJob>> QuerySlurmJob(std::string_view job_id,
                                              const std::string& slurm_conf);

// Every job slurmctld knows (pending, running, and ended ones it still keeps), by id, from
// one `squeue --states=all`. Unavailable when slurmctld cannot be reached.
Result<std::map<std::string, SlurmJob>> QuerySlurmQueue(const std::string& slurm_conf);

// Parses `squeue --noheader --format=%i|%T|%r|%N` output into jobs by id; lines of another
// shape are skipped.
std::map<std::string, SlurmJob> ParseSlurmQueue(std::string_view text);

// The value of KEY=... in one line of `scontrol show ... --oneliner`, up to the next blank;
// empty when the line has no such key.
std::string OnelinerField(std::string_view line, std::string_view key);

// Parses one line of `scontrol show job --oneliner`.
SlurmJob ParseSlurmJob(std::string_view line);

// Whether a job in `state` may still run: pending, running, or on its way between.
bool IsSlurmStateActive(std::string_view state);

// For a state in which Slurm ended a job against its will (TIMEOUT, NODE_FAIL,
// OUT_OF_MEMORY, PREEMPTED, BOOT_FAIL, DEADLINE), what happened, in words; nullopt for other
// states.
std::optional<std::string> SlurmEndReason(const SlurmJob& job);

// Runs a Slurm command (sbatch, scancel, sinfo...) with SlurmEnvironment and `extra_env`
// ("NAME=value", set over it), returning its stdout; an error carries its stderr.
// Unavailable when it cannot reach slurmctld.
Result<std::string> RunSlurmCommand(const std::vector<std::string>& argv,
                                    const std::string& slurm_conf,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                    const std::vector<std::string>& extra_env = {});

}  // namespace kiln::launch
