#pragma once

// The settings of a Slurm compute target (`kiln compute add NAME --type slurm ...`), kept in
// the store as the target's config object (docs/compute-targets.md).

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace kiln::compute {

struct SlurmConfig {
  std::string partition;
  int max_nodes = 0;  // the most nodes one run may ask for
  // Where run directories go: a folder every node sees at the same path.
  std::filesystem::path runs_root;
  std::string slurm_conf;  // SLURM_CONF for Slurm's commands; empty: Slurm's default
  std::string network;     // subnet (CIDR) or interface the ranks talk over; may be empty
};

nlohmann::json SlurmConfigToJson(const SlurmConfig& config);

// InvalidArgument naming the field ("--partition: ...") for a missing or malformed one.
Result<SlurmConfig> SlurmConfigFromJson(const nlohmann::json& json);

// Checks what can be checked on this machine without Slurm: an absolute runs root that
// exists or can be made, a readable slurm.conf, a network that is a subnet or an interface
// name.
Status CheckSlurmConfig(const SlurmConfig& config);

}  // namespace kiln::compute
